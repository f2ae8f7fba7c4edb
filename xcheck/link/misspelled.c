/*
 * Negative control for scripts/link-sys: a call to a kernel function whose name is misspelled
 * (KeSetEvent without its last "e"). Linked together with the driver, it must make lld-link fail
 * with an undefined symbol; if it ever links, unresolved names would go unnoticed.
 */
typedef long LONG;
__declspec(dllimport) LONG KeSetEvnt(void *Event, LONG Increment, unsigned char Wait);

LONG ringtun_link_negative_control(void *event)
{
    return KeSetEvnt(event, 0, 0);
}
