/* request.h — the memcached text protocol parser (classic and meta).
 *
 * Pure and incremental: eddy__mc_parse looks at the bytes a connection has
 * buffered and says "need more", "here is one whole command" (its line and,
 * for storage commands, its data block) or "this is an error, answer it
 * with this line". It allocates nothing and keeps no state between calls:
 * every pointer in the request points into the caller's bytes.
 */
#ifndef EDDY_CACHE_REQUEST_H
#define EDDY_CACHE_REQUEST_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  EDDY__MC_NONE = 0,
  EDDY__MC_GET,
  EDDY__MC_GETS,
  EDDY__MC_GAT,
  EDDY__MC_GATS,
  EDDY__MC_SET,
  EDDY__MC_ADD,
  EDDY__MC_REPLACE,
  EDDY__MC_APPEND,
  EDDY__MC_PREPEND,
  EDDY__MC_CAS,
  EDDY__MC_DELETE,
  EDDY__MC_INCR,
  EDDY__MC_DECR,
  EDDY__MC_TOUCH,
  EDDY__MC_FLUSH_ALL,
  EDDY__MC_VERSION,
  EDDY__MC_VERBOSITY,
  EDDY__MC_STATS,
  EDDY__MC_QUIT,
  EDDY__MC_MG,
  EDDY__MC_MS,
  EDDY__MC_MD,
  EDDY__MC_MA,
  EDDY__MC_MN
} eddy__mc_cmd_t;

/* What eddy__mc_parse returns. */
enum {
  EDDY__MC_NEED = 0,  /* an incomplete command: call again with more bytes */
  EDDY__MC_OK = 1,    /* req holds a command; drop req->consumed bytes */
  EDDY__MC_ERROR = 2, /* answer req->error, drop req->consumed bytes, then
                       * req->swallow more as they come (a refused block) */
  EDDY__MC_CLOSE = 3  /* answer req->error and close: framing is lost */
};

/* Meta set modes and arithmetic modes. */
enum {
  EDDY__MC_MODE_SET = 'S',
  EDDY__MC_MODE_ADD = 'E',
  EDDY__MC_MODE_APPEND = 'A',
  EDDY__MC_MODE_PREPEND = 'P',
  EDDY__MC_MODE_REPLACE = 'R',
  EDDY__MC_MODE_INCR = 'I',
  EDDY__MC_MODE_DECR = 'D'
};

#define EDDY__MC_META_FLAGS_MAX 24
#define EDDY__MC_OPAQUE_MAX 32

typedef struct eddy__mc_mflag_s {
  char flag;
  const char *tok; /* the token after the flag letter */
  size_t len;
} eddy__mc_mflag_t;

typedef struct eddy__mc_limits_s {
  size_t max_line; /* a command line, other than retrieval ones */
  size_t max_keys; /* a get/gets/gat/gats line (multiget) */
  size_t max_item; /* a value */
} eddy__mc_limits_t;

typedef struct eddy__mc_req_s {
  eddy__mc_cmd_t cmd;
  size_t consumed;   /* bytes of the input this command (or error) used */
  size_t swallow;    /* EDDY__MC_ERROR: block bytes still to discard */
  size_t need;       /* EDDY__MC_NEED: total bytes needed, when known */
  const char *error; /* the reply line, without \r\n */
  int noreply;       /* classic noreply (errors are silenced too) */
  int drop_key;      /* a refused `set`: memcached drops the old value */
  const char *key;
  size_t nkey;
  const char *keys; /* retrieval: the keys, separated by spaces */
  size_t keys_len;
  const char *arg; /* stats: the argument, if any */
  size_t arg_len;
  uint32_t flags;
  int64_t exptime; /* also flush_all's delay, gat's and touch's exptime */
  uint64_t cas;
  uint64_t delta;
  size_t bytes;     /* block length */
  const char *data; /* the block (bytes long; "\r\n" follows it) */
  /* meta */
  eddy__mc_mflag_t mflags[EDDY__MC_META_FLAGS_MAX]; /* in request order */
  size_t nmflags;
  uint64_t mseen; /* bit (c - 'A') for every flag letter present */
  int quiet;      /* q */
  int mode;       /* M, defaulting to SET / INCR */
  int has_ttl;    /* T */
  int64_t ttl;
  int has_vivify; /* N */
  int64_t vivify_ttl;
  int has_recache; /* R */
  int64_t recache_ttl;
  uint64_t initial;     /* J */
  uint64_t compare_cas; /* C, 0 when absent */
  const char *opaque;   /* O */
  size_t opaque_len;
} eddy__mc_req_t;

static inline int eddy__mc_has(const eddy__mc_req_t *r, char f) {
  return (int)((r->mseen >> (unsigned)(f - 'A')) & 1u);
}

int eddy__mc_parse(const char *buf, size_t len, const eddy__mc_limits_t *lim,
                   eddy__mc_req_t *req);

/* Splits the next key off a retrieval command's key list: 0 at the
 * end, else 1 with *key and *nkey set and *pos moved past it. */
int eddy__mc_next_key(const eddy__mc_req_t *req, size_t *pos, const char **key,
                      size_t *nkey);

/* A decimal number as memcached reads a value for incr/decr: optional
 * leading spaces, digits, then the end or a space. 0 or -1. */
int eddy__mc_value_u64(const char *s, size_t len, uint64_t *out);

#endif
