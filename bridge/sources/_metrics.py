"""Prometheus metrics of the intake side (sources -> plugin), labelled by source name."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS_READ = Counter("ctbridge_source_records_read_total", "CloudTrail records read", ["source"])
RECORDS_DELIVERED = Counter("ctbridge_source_records_delivered_total",
                            "records sent to the plugin socket", ["source"])
RECORDS_ACKED = Counter("ctbridge_source_records_acked_total",
                        "records the plugin ACKed (Falco took them)", ["source"])
RECORDS_DEDUPLICATED = Counter("ctbridge_source_records_deduplicated_total",
                               "records dropped as repeats of an eventID inside the dedup window", ["source"])
RECORDS_QUARANTINED = Counter("ctbridge_source_items_quarantined_total",
                              "unusable input items (records, files, messages) quarantined", ["source"])
OBJECTS_DONE = Counter("ctbridge_source_objects_done_total",
                       "work units (S3 objects, SQS messages, pages) fully ACKed and committed", ["source"])
OBJECTS_SKIPPED = Counter("ctbridge_source_objects_skipped_total",
                          "objects skipped on purpose (digests, Insights not asked for, S3 test events)",
                          ["source", "reason"])
SQS_RECEIVED = Counter("ctbridge_sqs_messages_received_total", "SQS messages received", ["source"])
SQS_DELETED = Counter("ctbridge_sqs_messages_deleted_total",
                      "SQS messages deleted after the plugin ACKed all their records", ["source"])
SQS_IN_FLIGHT = Gauge("ctbridge_sqs_messages_in_flight", "SQS messages received, not yet deleted", ["source"])
LAG = Gauge("ctbridge_source_lag_seconds",
            "age of the newest CloudTrail object or message fully delivered (now - its time)", ["source"])
AWS_ERRORS = Counter("ctbridge_aws_errors_total", "AWS API errors by code", ["source", "code"])
PLUGIN_RECONNECTS = Counter("ctbridge_plugin_reconnects_total", "reconnects to the plugin socket")
