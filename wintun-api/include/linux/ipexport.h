/* ipexport.h for the Linux build of libwintun.so: the Win32 vocabulary of the Wintun API only (see
 * ringtun_win32.h for exactly what is and is not provided). Add this directory to the include
 * path on Linux only. */
#include "../ringtun_win32.h"
