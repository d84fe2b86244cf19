/*
 * svc.c: the process's service state (svc.h).  The parent fills it in
 * lifecycle.c before the fork; every module reads it.  It lives apart
 * from the lifecycle so that the modules it starts do not call back
 * into the file that starts them.
 */
#include "svc.h"

struct svc	svc;
