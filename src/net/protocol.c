/* protocol.c — delivering events to a protocol, for every transport. */
#include "eddy/protocol.h"

#include <string.h>

void eddy_protocol_init(eddy_protocol_t *p, const eddy_protocol_ops_t *ops) {
  memset(p, 0, sizeof(*p));
  p->ops = ops;
}

void eddy_protocol_connection_made(eddy_protocol_t *p, eddy_transport_t *t) {
  p->transport = t;
  if (p->ops != NULL && p->ops->connection_made != NULL)
    p->ops->connection_made(p);
}

void eddy_protocol_data_received(eddy_protocol_t *p, const char *data,
                                 size_t len) {
  if (p->ops != NULL && p->ops->data_received != NULL)
    p->ops->data_received(p, data, len);
}

int eddy_protocol_eof_received(eddy_protocol_t *p) {
  if (p->ops != NULL && p->ops->eof_received != NULL)
    return p->ops->eof_received(p);
  return 0;
}

void eddy_protocol_connection_lost(eddy_protocol_t *p, int reason) {
  if (p->ops != NULL && p->ops->connection_lost != NULL)
    p->ops->connection_lost(p, reason);
  p->transport = NULL;
  /* Observers run after the protocol has seen the loss, and before it may
   * free itself in destroy. */
  if (p->lost_hook != NULL)
    p->lost_hook(p, reason, p->lost_hook_arg);
  if (p->ops != NULL && p->ops->destroy != NULL)
    p->ops->destroy(p);
}

void eddy_protocol_pause_writing(eddy_protocol_t *p) {
  if (p->ops != NULL && p->ops->pause_writing != NULL)
    p->ops->pause_writing(p);
}

void eddy_protocol_resume_writing(eddy_protocol_t *p) {
  if (p->ops != NULL && p->ops->resume_writing != NULL)
    p->ops->resume_writing(p);
}
