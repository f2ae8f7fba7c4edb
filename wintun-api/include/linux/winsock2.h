/* winsock2.h for the Linux build of libwintun.so: the Win32 vocabulary of the Wintun API (see
 * ringtun_win32.h) and the byte-order functions and address types of the system's sockets
 * headers (htons, htonl, ntohs, ntohl, struct in_addr, struct in6_addr). Nothing else of
 * Winsock. Add this directory to the include path on Linux only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include "../ringtun_win32.h"
