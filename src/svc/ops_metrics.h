/*
 * ops_metrics.h: process and instance metrics beyond core's counters
 * (ops_metrics.c).
 */
#ifndef RC_OPS_METRICS_H
#define RC_OPS_METRICS_H

/*
 * The parent's part before the fork (opens /proc), each
 * worker's at configure (descriptor counts; worker 1 warns daily about
 * SCIM tokens expiring within 14 days), and the /metrics lines beyond
 * core's counters (malloc'd, the caller frees; NULL when out of memory;
 * called by http_ops.c).
 */
void	 svc_ops_parent_init(void);
void	 svc_ops_worker_init(void);
char	*svc_ops_metrics(void);

#endif
