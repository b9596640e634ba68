/* stop: SIGINT/SIGTERM for stockctl's long commands. The first signal asks
 * the command to stop at the next safe point (after the record in flight,
 * with its progress saved); a second one exits at once. */
#ifndef STOCKFLOW_STOP_H
#define STOCKFLOW_STOP_H

/* Installs the handlers. */
void stop_catch(void);

/* Non-zero once a stop was asked for. */
int stop_requested(void);

/* Asks for a stop as a signal would (the first one). */
void stop_set(void);

#endif
