/*
 * log.h - the exporter's log: one line per event on stderr (the journal
 * under systemd), prefixed with the program name. Lines are sanitised
 * (tta_sanitize_text), since they may quote a segment name or a library
 * message. Threading: any thread; each line is written with one call.
 */
#ifndef TTA_EXPORTER_LOG_H
#define TTA_EXPORTER_LOG_H

void tte_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TTA_EXPORTER_LOG_H */
