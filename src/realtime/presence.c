/* presence.c — who is subscribed to a channel, and the join and leave
 * events pushed to the other subscribers. */
#include <stdlib.h>
#include <string.h>

#include "realtime/rt_internal.h"

/* {"client":id,"user":u,"info":{...}} — the shape shared by presence
 * entries and join/leave events (after their own leading fields). */
static int append_client(eddy_buf_t *b, const eddy_rt_client_t *c) {
  char id[EDDY__RT_CLIENT_ID_MAX];
  eddy__rt_client_id(c, id);
  const char *user = c->user != NULL ? c->user : "";
  int rc;
  if ((rc = eddy_buf_printf(b, "\"client\":\"%s\",\"user\":", id)) != 0 ||
      (rc = eddy__rt_json_str(b, user, strlen(user))) != 0 ||
      (rc = eddy_buf_append_str(b, ",\"info\":")) != 0)
    return rc;
  if (c->info == NULL)
    return eddy_buf_append(b, "{}", 2);
  char *info = json_dumps(c->info, JSON_COMPACT);
  if (info == NULL)
    return UV_ENOMEM;
  rc = eddy_buf_append_str(b, info);
  free(info);
  return rc;
}

int eddy__rt_presence_append(const eddy__rt_channel_t *ch, eddy_buf_t *b) {
  int rc = eddy_buf_append(b, "[", 1);
  for (uint32_t i = 0; rc == 0 && i < ch->nmembers; i++) {
    if (i > 0 && (rc = eddy_buf_append(b, ",", 1)) != 0)
      break;
    if ((rc = eddy_buf_append(b, "{", 1)) != 0 ||
        (rc = append_client(b, ch->members[i].client)) != 0)
      break;
    rc = eddy_buf_append(b, "}", 1);
  }
  if (rc == 0)
    rc = eddy_buf_append(b, "]", 1);
  return rc;
}

void eddy__rt_presence_event(eddy_rt_t *hub, eddy__rt_channel_t *ch,
                             const eddy_rt_client_t *c, int join) {
  if (!ch->ns->join_leave)
    return;
  /* Nobody else to tell: skip the encoding. */
  if (ch->nmembers == 0 || (ch->nmembers == 1 && ch->members[0].client == c))
    return;
  eddy_buf_t b;
  eddy_buf_init(&b, EDDY_BUF_UNLIMITED);
  int rc = eddy_buf_printf(&b, "{\"op\":\"%s\",\"channel\":\"%s\",",
                           join ? "join" : "leave", ch->name);
  if (rc == 0)
    rc = append_client(&b, c);
  if (rc == 0)
    rc = eddy_buf_append(&b, "}", 1);
  eddy_ws_message_t *m = NULL;
  if (rc == 0)
    rc = eddy_ws_message_new(EDDY_WS_OP_TEXT, b.data, b.len, &m);
  eddy_buf_free(&b);
  if (rc != 0)
    return; /* out of memory: an event is lost, nothing else is */
  eddy__rt_deliver(hub, ch, m, c);
  eddy_ws_message_unref(m);
}
