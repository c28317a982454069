/* meta.c — memcached's meta commands: mg, ms, md, ma, mn.
 *
 * A reply is a two-letter code followed by the return flags the request
 * asked for, in the request's order. Quiet mode (q) drops the replies a
 * pipelining client does not need: EN for mg, HD for ms, md and ma (as
 * memcached 1.6 does: NF, NS and EX are still sent); errors always are. */
#include <string.h>

#include "cache_internal.h"

static void out_i64(eddy__cache_conn_t *c, char flag, int64_t v) {
  char buf[24];
  size_t n = 0;
  buf[n++] = ' ';
  buf[n++] = flag;
  if (v < 0) {
    buf[n++] = '-';
    n += eddy__cache_u64(buf + n, (uint64_t)(-(v + 1)) + 1);
  } else {
    n += eddy__cache_u64(buf + n, (uint64_t)v);
  }
  eddy__cache_out(c, buf, n);
}

static void out_u64(eddy__cache_conn_t *c, char flag, uint64_t v) {
  char buf[24];
  buf[0] = ' ';
  buf[1] = flag;
  eddy__cache_out(c, buf, 2 + eddy__cache_u64(buf + 2, v));
}

static void out_bytes(eddy__cache_conn_t *c, char flag, const char *p,
                      size_t n) {
  char head[2] = {' ', flag};
  eddy__cache_out(c, head, 2);
  eddy__cache_out(c, p, n);
}

/* The flags every reply echoes, hit or miss: the opaque and the key. */
static void out_echo(eddy__cache_conn_t *c, const eddy__mc_req_t *r) {
  for (size_t i = 0; i < r->nmflags; i++) {
    const eddy__mc_mflag_t *m = &r->mflags[i];
    if (m->flag == 'O')
      out_bytes(c, 'O', m->tok, m->len);
    else if (m->flag == 'k')
      out_bytes(c, 'k', r->key, r->nkey);
  }
}

static void out_code(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                     const char *code) {
  eddy__cache_out(c, code, 2);
  out_echo(c, r);
  EDDY__CACHE_OUT_LIT(c, "\r\n");
}

/* A hit's status word: "VA <size>" when the value follows, else "HD". */
static void out_hit(eddy__cache_conn_t *c, int value, size_t nbytes) {
  if (value) {
    EDDY__CACHE_OUT_LIT(c, "VA ");
    char num[20];
    eddy__cache_out(c, num, eddy__cache_u64(num, nbytes));
  } else {
    EDDY__CACHE_OUT_LIT(c, "HD");
  }
}

static void do_mg(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                  uint64_t now) {
  eddy_cache_t *cache = c->cache;
  eddy__item_t *it = eddy__store_find(&cache->store, r->key, r->nkey, now);
  cache->stats.cmd_get++;
  /* Anti-stampede: the first client to miss (N) or to find the item close
   * to its end (R) gets a win token (W) and should refill it; the others
   * see Z (a token is out) until the item is stored again. */
  int win = 0, token_out = 0;
  if (it == NULL && r->has_vivify) {
    it = eddy__store_alloc(&cache->store, r->key, r->nkey, 0, now);
    if (it == NULL) {
      EDDY__CACHE_OUT_LIT(c, "SERVER_ERROR out of memory storing object\r\n");
      return;
    }
    /* Answered as a hit even when N gave a time already past (the item
     * then goes at the end of this command), as memcached does. */
    it->exp_ms = eddy__cache_deadline(&cache->clock, r->vivify_ttl, now);
    eddy__store_link(&cache->store, it, now);
    eddy__cache_count_miss(cache);
    it->won = 1;
    win = 1;
  } else if (it != NULL) {
    cache->stats.get_hits++;
    eddy_counter_inc(cache->metrics.hits);
    if (it->won) {
      token_out = 1;
    } else if (r->has_recache) {
      int64_t left = eddy__cache_ttl_left(it, now);
      if (left != -1 && left < r->recache_ttl) {
        it->won = 1;
        win = 1;
      }
    }
  }
  if (it == NULL) {
    eddy__cache_count_miss(cache);
    if (r->has_ttl) {
      cache->stats.cmd_touch++;
      cache->touch_misses++;
    }
    if (!r->quiet)
      out_code(c, r, "EN");
    return;
  }
  /* h and l report what was true before this fetch. */
  int fetched = it->fetched;
  uint64_t idle_s = (now - it->atime_ms) / 1000;
  if (r->has_ttl) {
    cache->stats.cmd_touch++;
    cache->touch_hits++;
    it->exp_ms = eddy__cache_deadline(&cache->clock, r->ttl, now);
  }
  if (eddy__mc_has(r, 'u'))
    it->fetched = 1;
  else
    eddy__store_bump(&cache->store, it, now);
  int value = eddy__mc_has(r, 'v');
  out_hit(c, value, it->nbytes);
  for (size_t i = 0; i < r->nmflags; i++) {
    const eddy__mc_mflag_t *m = &r->mflags[i];
    switch (m->flag) {
    case 'c':
      out_u64(c, 'c', it->cas);
      break;
    case 'f':
      out_u64(c, 'f', it->flags);
      break;
    case 'h':
      out_u64(c, 'h', fetched ? 1 : 0);
      break;
    case 'k':
      out_bytes(c, 'k', r->key, r->nkey);
      break;
    case 'l':
      out_u64(c, 'l', idle_s);
      break;
    case 'O':
      out_bytes(c, 'O', m->tok, m->len);
      break;
    case 's':
      out_u64(c, 's', it->nbytes);
      break;
    case 't':
      out_i64(c, 't', eddy__cache_ttl_left(it, now));
      break;
    default:
      break;
    }
  }
  if (win)
    EDDY__CACHE_OUT_LIT(c, " W");
  if (token_out)
    EDDY__CACHE_OUT_LIT(c, " Z");
  EDDY__CACHE_OUT_LIT(c, "\r\n");
  if (value)
    eddy__cache_out_value(c, it);
  if (it->exp_ms == 1)
    eddy__store_unlink(&cache->store, it); /* touched into the past */
}

static void do_ms(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                  uint64_t now) {
  eddy_cache_t *cache = c->cache;
  cache->stats.cmd_set++;
  eddy_counter_inc(cache->metrics.sets);
  uint64_t cas = 0;
  int check = eddy__mc_has(r, 'C');
  eddy__cache_store_rc_t rc = eddy__cache_store(
      cache, r->mode, r->key, r->nkey, r->flags, r->has_ttl ? r->ttl : 0,
      r->data, r->bytes, check, r->compare_cas, now, &cas);
  const char *code;
  switch (rc) {
  case EDDY__CACHE_STORED:
    if (r->quiet)
      return;
    code = "HD";
    break;
  case EDDY__CACHE_NOT_STORED:
    code = "NS";
    break;
  case EDDY__CACHE_EXISTS:
    code = "EX";
    break;
  case EDDY__CACHE_NOT_FOUND:
    code = "NF";
    break;
  default:
    EDDY__CACHE_OUT_LIT(c, "SERVER_ERROR out of memory storing object\r\n");
    return;
  }
  eddy__cache_out(c, code, 2);
  for (size_t i = 0; i < r->nmflags; i++) {
    const eddy__mc_mflag_t *m = &r->mflags[i];
    if (m->flag == 'O')
      out_bytes(c, 'O', m->tok, m->len);
    else if (m->flag == 'k')
      out_bytes(c, 'k', r->key, r->nkey);
    else if (m->flag == 'c' && rc == EDDY__CACHE_STORED)
      out_u64(c, 'c', cas);
  }
  EDDY__CACHE_OUT_LIT(c, "\r\n");
}

static void do_md(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                  uint64_t now) {
  eddy_cache_t *cache = c->cache;
  eddy__item_t *it = eddy__store_find(&cache->store, r->key, r->nkey, now);
  if (it == NULL) {
    cache->stats.delete_misses++;
    out_code(c, r, "NF");
    return;
  }
  if (eddy__mc_has(r, 'C') && it->cas != r->compare_cas) {
    out_code(c, r, "EX");
    return;
  }
  eddy__store_unlink(&cache->store, it);
  cache->stats.delete_hits++;
  if (!r->quiet)
    out_code(c, r, "HD");
}

static void do_ma(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                  uint64_t now) {
  eddy_cache_t *cache = c->cache;
  int incr = r->mode == EDDY__MC_MODE_INCR;
  uint64_t v = 0;
  eddy__item_t *it = NULL;
  eddy__cache_delta_rc_t rc =
      eddy__cache_delta(cache, r->key, r->nkey, incr, r->delta, now, &v, &it);
  if (rc == EDDY__CACHE_DELTA_NOT_FOUND && r->has_vivify) {
    /* Auto-create with the initial value (J, default 0). */
    char num[20];
    size_t n = eddy__cache_u64(num, r->initial);
    if (eddy__cache_store(cache, EDDY__MC_MODE_ADD, r->key, r->nkey, 0,
                          r->vivify_ttl, num, n, 0, 0, now,
                          NULL) == EDDY__CACHE_STORED) {
      it = eddy__store_find(&cache->store, r->key, r->nkey, now);
      v = r->initial;
      rc = it != NULL ? EDDY__CACHE_DELTA_OK : EDDY__CACHE_DELTA_NO_MEMORY;
    } else {
      rc = EDDY__CACHE_DELTA_NO_MEMORY;
    }
  }
  switch (rc) {
  case EDDY__CACHE_DELTA_NOT_FOUND:
    out_code(c, r, "NF");
    return;
  case EDDY__CACHE_DELTA_NON_NUMERIC:
    EDDY__CACHE_OUT_LIT(
        c, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    return;
  case EDDY__CACHE_DELTA_NO_MEMORY:
    EDDY__CACHE_OUT_LIT(c, "SERVER_ERROR out of memory\r\n");
    return;
  case EDDY__CACHE_DELTA_OK:
    break;
  }
  if (r->has_ttl)
    it->exp_ms = eddy__cache_deadline(&cache->clock, r->ttl, now);
  int value = eddy__mc_has(r, 'v');
  if (!value && r->quiet)
    return;
  char num[20];
  size_t n = eddy__cache_u64(num, v);
  out_hit(c, value, n);
  for (size_t i = 0; i < r->nmflags; i++) {
    const eddy__mc_mflag_t *m = &r->mflags[i];
    switch (m->flag) {
    case 'c':
      out_u64(c, 'c', it->cas);
      break;
    case 't':
      out_i64(c, 't', eddy__cache_ttl_left(it, now));
      break;
    case 'k':
      out_bytes(c, 'k', r->key, r->nkey);
      break;
    case 'O':
      out_bytes(c, 'O', m->tok, m->len);
      break;
    default:
      break;
    }
  }
  EDDY__CACHE_OUT_LIT(c, "\r\n");
  if (value) {
    eddy__cache_out(c, num, n);
    EDDY__CACHE_OUT_LIT(c, "\r\n");
  }
}

void eddy__cache_exec_meta(eddy__cache_conn_t *c, const eddy__mc_req_t *r,
                           uint64_t now) {
  switch (r->cmd) {
  case EDDY__MC_MG:
    do_mg(c, r, now);
    break;
  case EDDY__MC_MS:
    do_ms(c, r, now);
    break;
  case EDDY__MC_MD:
    do_md(c, r, now);
    break;
  case EDDY__MC_MA:
    do_ma(c, r, now);
    break;
  case EDDY__MC_MN:
    EDDY__CACHE_OUT_LIT(c, "MN\r\n");
    break;
  default:
    break;
  }
}
