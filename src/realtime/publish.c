/* publish.c — one publication: encoded once, kept in history, delivered to
 * every subscriber.
 *
 * The push text is built by concatenation around the data's JSON text and
 * wrapped in ONE eddy_ws_message_t: every WebSocket subscriber's transport
 * references the same frame, the history keeps the same object, and the
 * other transports get its text. Deliveries to a WebSocket client are
 * gathered per loop turn (eddy__rt_hub_cork): N publications in one turn
 * leave in one write per client. */
#include <stdlib.h>
#include <string.h>

#include "eddy/error.h"
#include "realtime/rt_internal.h"

size_t eddy__rt_deliver(eddy_rt_t *hub, eddy__rt_channel_t *ch,
                        eddy_ws_message_t *m, const eddy_rt_client_t *except) {
  size_t n = 0;
  /* A transport may detach from inside send or close: while busy, the
   * member array is left as it is and such clients are freed later. */
  hub->busy++;
  for (uint32_t i = 0; i < ch->nmembers; i++) {
    eddy_rt_client_t *c = ch->members[i].client;
    if (c == except)
      continue;
    if (eddy__rt_client_send_message(c, m) == 0)
      n++;
  }
  hub->busy--;
  return n;
}

int eddy__rt_publish(eddy_rt_t *hub, eddy__rt_channel_t *ch, const char *data,
                     size_t dlen, const eddy_rt_client_t *from,
                     eddy_rt_published_t *out) {
  uint64_t t0 = hub->m_publish_us != NULL ? uv_hrtime() : 0;
  const eddy_rt_namespace_t *ns = ch->ns;
  eddy__rt_history_t *h = &ch->history;
  int keep = ns->history_size > 0;
  if (keep)
    eddy__rt_history_expire(hub, h, ns->history_ttl_ms,
                            eddy_reactor_now(hub->reactor));
  uint64_t offset = keep ? h->last + 1 : 0;

  char id[EDDY__RT_CLIENT_ID_MAX];
  if (from != NULL)
    eddy__rt_client_id(from, id);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy__rt_encode_message(
      &b, ch->name, ch->name_len, offset, data, dlen, from != NULL ? id : NULL,
      from != NULL && from->user != NULL ? from->user : "");
  eddy_ws_message_t *m = NULL;
  if (rc == 0)
    rc = eddy_ws_message_new(EDDY_WS_OP_TEXT, b.data, b.len, &m);
  eddy_buf_free(&b);
  if (rc != 0) {
    eddy__rt_channel_maybe_free(hub, ch);
    return rc == UV_ENOMEM ? UV_ENOMEM : UV_EINVAL;
  }
  if (keep) {
    if (eddy__rt_history_push(hub, h, ns->history_size,
                              eddy_reactor_now(hub->reactor), m) != 0) {
      eddy_ws_message_unref(m);
      eddy__rt_channel_maybe_free(hub, ch);
      return UV_ENOMEM;
    }
    eddy__rt_channel_touch(hub, ch);
    eddy__rt_history_enforce(hub, ch);
    if (h->count == 0)
      eddy__rt_channel_unlist(hub, ch);
  }
  size_t n = eddy__rt_deliver(hub, ch, m, NULL);
  eddy_ws_message_unref(m);
  hub->delivered_total += n;
  eddy_counter_add(hub->m_delivered, n);
  hub->published_total++;
  eddy_counter_inc(hub->m_published);
  if (hub->m_publish_us != NULL)
    eddy_histogram_observe(hub->m_publish_us, (uv_hrtime() - t0) / 1000);
  if (out != NULL) {
    out->offset = offset;
    memcpy(out->epoch, h->epoch, sizeof(out->epoch));
    out->subscribers = n;
  }
  eddy__rt_channel_maybe_free(hub, ch);
  return 0;
}

int eddy__rt_data_check(const eddy_rt_t *hub, const char *data, size_t len) {
  if (len > hub->o.max_publication)
    return UV_E2BIG;
  /* Validated once here; delivered as the text given. */
  json_error_t je;
  json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &je);
  if (v == NULL)
    return EDDY_EPARSE;
  json_decref(v);
  return 0;
}

static int publish_named(eddy_rt_t *hub, const char *channel, size_t chlen,
                         const char *data, size_t len, int checked,
                         eddy_rt_published_t *out) {
  if (!eddy__rt_channel_valid(channel, chlen))
    return UV_EINVAL;
  const eddy_rt_namespace_t *ns = eddy__rt_namespace_of(hub, channel, chlen);
  if (ns == NULL)
    return UV_ENOENT;
  if (!checked) {
    int crc = eddy__rt_data_check(hub, data, len);
    if (crc != 0)
      return crc;
  }
  int rc;
  eddy__rt_channel_t *ch = eddy__rt_channel_get(hub, channel, chlen, ns, &rc);
  if (ch == NULL)
    return rc;
  hub->busy++;
  rc = eddy__rt_publish(hub, ch, data, len, NULL, out);
  hub->busy--;
  eddy__rt_hub_settle(hub);
  return rc;
}

int eddy_rt_publish(eddy_rt_t *hub, const char *channel, const char *data,
                    size_t len, eddy_rt_published_t *out) {
  if (hub == NULL || channel == NULL || data == NULL)
    return UV_EINVAL;
  return publish_named(hub, channel, strlen(channel), data, len, 0, out);
}

int eddy__rt_publish_checked(eddy_rt_t *hub, const char *channel, size_t chlen,
                             const char *data, size_t len,
                             eddy_rt_published_t *out) {
  return publish_named(hub, channel, chlen, data, len, 1, out);
}

int eddy__rt_error_status(int rc, const char **message) {
  switch (rc) {
  case UV_EINVAL:
    *message = "bad channel name";
    return 400;
  case EDDY_EPARSE:
    *message = "data is not one JSON value";
    return 400;
  case UV_ENOENT:
    *message = "unknown namespace";
    return 404;
  case UV_EPERM:
    *message = "not allowed in this namespace";
    return 403;
  case UV_E2BIG:
    *message = "publication too large";
    return 413;
  case UV_EBUSY:
    *message = "too many channels";
    return 503;
  case UV_ENOMEM:
    *message = "out of memory";
    return 503;
  default:
    *message = eddy_strerror(rc);
    return 500;
  }
}
