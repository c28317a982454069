/* query.c — presence, history and the channel list for backends (the HTTP
 * API): the same texts the WebSocket replies carry, parsed into jansson
 * values for the caller. */
#include <stdlib.h>
#include <string.h>

#include "realtime/rt_internal.h"

/* Checks a channel name and finds its namespace. */
static int lookup(eddy_rt_t *hub, const char *channel,
                  const eddy_rt_namespace_t **ns) {
  if (hub == NULL || channel == NULL)
    return UV_EINVAL;
  size_t len = strlen(channel);
  if (!eddy__rt_channel_valid(channel, len))
    return UV_EINVAL;
  *ns = eddy__rt_namespace_of(hub, channel, len);
  return *ns == NULL ? UV_ENOENT : 0;
}

static int finish(eddy_buf_t *b, int rc, json_t **out) {
  if (rc == 0) {
    json_error_t je;
    *out = json_loadb(b->data, b->len, 0, &je);
    if (*out == NULL)
      rc = UV_ENOMEM; /* our own text always parses */
  }
  eddy_buf_free(b);
  return rc;
}

int eddy_rt_presence(eddy_rt_t *hub, const char *channel, json_t **out) {
  const eddy_rt_namespace_t *ns;
  int rc = lookup(hub, channel, &ns);
  if (rc != 0 || out == NULL)
    return rc != 0 ? rc : UV_EINVAL;
  if (!ns->presence)
    return UV_EPERM;
  size_t len = strlen(channel);
  eddy__rt_channel_t *ch = eddy__rt_channel_find(hub, channel, len);
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  rc = eddy_buf_printf(&b, "{\"channel\":\"%s\",\"clients\":", channel);
  if (rc == 0)
    rc = ch != NULL ? eddy__rt_presence_append(ch, &b)
                    : eddy_buf_append(&b, "[]", 2);
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  return finish(&b, rc, out);
}

int eddy_rt_history(eddy_rt_t *hub, const char *channel, uint64_t since,
                    size_t limit, json_t **out) {
  const eddy_rt_namespace_t *ns;
  int rc = lookup(hub, channel, &ns);
  if (rc != 0 || out == NULL)
    return rc != 0 ? rc : UV_EINVAL;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  rc = eddy_buf_append(&b, "{", 1);
  if (rc == 0)
    rc = eddy__rt_history_body(hub, channel, strlen(channel), since,
                               (uint64_t)limit, &b);
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  return finish(&b, rc, out);
}

typedef struct {
  const char *prefix;
  size_t prefix_len;
  eddy__rt_channel_t **list;
  size_t n;
} collect_t;

static void collect(eddy__rt_channel_t *ch, void *arg) {
  collect_t *cl = arg;
  if (cl->prefix_len > ch->name_len ||
      memcmp(ch->name, cl->prefix, cl->prefix_len) != 0)
    return;
  cl->list[cl->n++] = ch;
}

static int by_name(const void *a, const void *b) {
  const eddy__rt_channel_t *x = *(eddy__rt_channel_t *const *)a;
  const eddy__rt_channel_t *y = *(eddy__rt_channel_t *const *)b;
  return strcmp(x->name, y->name);
}

int eddy_rt_channels(eddy_rt_t *hub, const char *prefix, size_t limit,
                     json_t **out) {
  if (hub == NULL || out == NULL)
    return UV_EINVAL;
  collect_t cl = {prefix != NULL ? prefix : "",
                  prefix != NULL ? strlen(prefix) : 0, NULL, 0};
  if (hub->nchannels > 0 &&
      (cl.list = malloc(hub->nchannels * sizeof(*cl.list))) == NULL)
    return UV_ENOMEM;
  eddy__rt_channel_each(hub, collect, &cl);
  if (cl.n > 1) /* qsort with a NULL base is undefined, even for 0 */
    qsort(cl.list, cl.n, sizeof(*cl.list), by_name);
  json_t *arr = json_array();
  int rc = arr != NULL ? 0 : UV_ENOMEM;
  for (size_t i = 0; rc == 0 && i < cl.n && (limit == 0 || i < limit); i++) {
    const eddy__rt_channel_t *ch = cl.list[i];
    json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "channel", ch->name,
                          "subscribers", (json_int_t)ch->nmembers, "offset",
                          (json_int_t)ch->history.last, "history",
                          (json_int_t)ch->history.count);
    if (o == NULL || json_array_append_new(arr, o) != 0)
      rc = UV_ENOMEM;
  }
  free(cl.list);
  if (rc != 0) {
    json_decref(arr);
    return rc;
  }
  *out = arr;
  return 0;
}
