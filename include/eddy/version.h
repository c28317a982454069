/* eddy/version.h */
#ifndef EDDY_VERSION_H
#define EDDY_VERSION_H

#define EDDY_VERSION_MAJOR 0
#define EDDY_VERSION_MINOR 1
#define EDDY_VERSION_PATCH 0
#define EDDY_VERSION_STRING "0.1.0"

/* The version of the library actually linked. */
const char *eddy_version(void);

#endif
