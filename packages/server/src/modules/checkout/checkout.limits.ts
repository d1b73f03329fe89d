/**
 * Limits of Smart Checkout, with the reason for each (STYLE.md rule 4). Module-local because no
 * other module uses them.
 */

/** Outcomes per channel window: Hyperswitch's default bucket is 50 (ml.md §B.2). */
export const channel_window_size = 50;
/** Outcomes older than 15 minutes say little about a channel's state now. */
export const channel_window_ms = 15 * 60_000;
/** Fewer outcomes than this never mark a channel degraded (noise). */
export const channel_min_samples = 5;
/** A smoothed success rate below 80% marks a channel degraded. */
export const channel_degraded_success_rate = 0.8;
/** A median latency above 2 s marks a channel degraded (payers abandon slow confirmations). */
export const channel_degraded_latency_ms = 2_000;
/** Authorisations read back into the windows on start: 50 per channel for ~100 channels. */
export const channel_reload_rows_max = 5_000;
/** Outcomes replayed into the model on start (the log is the model's source of truth). */
export const model_replay_rows_max = 200_000;
/** Instruments in a payer's history: WeChat binds at most a few dozen cards. */
export const history_instruments_max = 32;
/** Overrides in a sandbox channel's schedule. */
export const channel_schedule_max = 32;
/** Active promotions a merchant may have at once (each is checked on every query). */
export const promotions_active_max = 50;
/** Sandbox channel latency ceiling: one minute. */
export const channel_latency_ms_max = 60_000;
