/* eddy/eddy.h — everything in libeddy. */
#ifndef EDDY_H
#define EDDY_H

#include "buffer.h"
#include "cache.h"
#include "cooperate.h"
#include "deferred.h"
#include "endpoint.h"
#include "error.h"
#include "http_parser.h"
#include "line.h"
#include "lock_client.h"
#include "locks.h"
#include "log.h"
#include "process.h"
#include "protocol.h"
#include "reactor.h"
#include "reconnect.h"
#include "signal.h"
#include "thread.h"
#include "transport.h"
#include "utf8.h"
#include "version.h"
#include "ws_frame.h"

#endif
