//! Counters that live beside what they count (process, frontends,
//! backends, servers) and the two pieces of HAProxy arithmetic they rest
//! on: the per-second event rate ([`FreqCtr`], HAProxy's `freq_ctr`) and the
//! sliding average over the last 1024 sessions ([`SwRate`], HAProxy's
//! `swrate`). Nothing here reads a clock: every method that depends on time
//! takes `now`.
//!
//! `clear counters` resets the maxima ([`FrontendCounters::clear_max`], …);
//! `clear counters all` resets every cumulative counter as well
//! (`clear_all`). As in HAProxy, neither touches what is current (sessions,
//! queue), the rates, or a backend's state history.

use crate::time::Instant;
use std::time::Duration;

/// Sessions whose times are averaged (HAProxy's `TIME_STATS_SAMPLES`).
pub const TIME_STATS_SAMPLES: u32 = 1024;

/// HAProxy's `freq_ctr` over a one-second period: events in the current
/// period plus the previous period's count weighted by the part of it still
/// inside the last second.
#[derive(Debug, Clone, Default)]
pub struct FreqCtr {
    /// Start of the current period; `None` until the first event.
    curr_tick: Option<Instant>,
    curr_ctr: u32,
    prev_ctr: u32,
}

const PERIOD_MS: u64 = 1000;

impl FreqCtr {
    /// Counts `inc` events at `now` (`update_freq_ctr`); returns the count of
    /// the current period.
    pub fn update(&mut self, now: Instant, inc: u32) -> u32 {
        let Some(tick) = self.curr_tick else {
            self.curr_tick = Some(now);
            self.prev_ctr = 0;
            self.curr_ctr = inc;
            return inc;
        };
        let elapsed = ms_between(tick, now);
        if elapsed < PERIOD_MS {
            self.curr_ctr = self.curr_ctr.wrapping_add(inc);
            return self.curr_ctr;
        }
        // Rotate: the current period becomes the previous one.
        self.prev_ctr = std::mem::replace(&mut self.curr_ctr, inc);
        let mut next = tick + Duration::from_millis(PERIOD_MS);
        if elapsed - PERIOD_MS >= PERIOD_MS {
            // At least two periods missed: nothing recent remains.
            self.prev_ctr = 0;
            next = now;
        }
        self.curr_tick = Some(next);
        inc
    }

    /// Events over the last second at `now` (`read_freq_ctr`), with HAProxy's
    /// flapping correction for rates below one per second.
    pub fn read(&self, now: Instant) -> u32 {
        let Some(tick) = self.curr_tick else { return 0 };
        let period = PERIOD_MS as i64;
        let mut curr = u64::from(self.curr_ctr);
        let mut past = u64::from(self.prev_ctr);
        let mut remain = period - ms_between(tick, now).min(i64::MAX as u64) as i64;
        if remain < 0 {
            remain += period;
            past = if remain >= 0 { curr } else { 0 };
            curr = 0;
        }
        if curr == 0 && past <= 1 {
            return past as u32;
        }
        let remain = remain.max(0) as u64;
        let total = past * remain + curr * PERIOD_MS;
        (total / PERIOD_MS).min(u64::from(u32::MAX)) as u32
    }
}

fn ms_between(earlier: Instant, later: Instant) -> u64 {
    later
        .saturating_duration_since(earlier)
        .as_millis()
        .min(u128::from(u64::MAX)) as u64
}

/// HAProxy's sliding-window sum (`swrate_add_dynamic` / `swrate_avg`): an
/// exact mean while fewer than [`TIME_STATS_SAMPLES`] samples were seen,
/// then an exponential window of that many samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwRate {
    sum: u32,
}

impl SwRate {
    /// Adds sample `v` for a window of `n` samples; `n == 0` only sums
    /// (`swrate_add_dynamic`).
    pub fn add(&mut self, n: u32, v: u32) {
        let old = self.sum;
        let decay = old
            .wrapping_add(n.saturating_sub(1))
            .checked_div(n)
            .unwrap_or(0);
        self.sum = old.wrapping_sub(decay).wrapping_add(v);
    }

    /// Average over a window of `n` samples (`swrate_avg`), rounded up.
    pub fn avg(&self, n: u32) -> u32 {
        self.sum
            .wrapping_add(n.saturating_sub(1))
            .checked_div(n)
            .unwrap_or(0)
    }
}

/// The window HAProxy reads averages with: the number of sessions counted,
/// up to [`TIME_STATS_SAMPLES`].
pub fn samples_window(lbtot: u64) -> u32 {
    if lbtot > 0 && lbtot < u64::from(TIME_STATS_SAMPLES) {
        lbtot as u32
    } else {
        TIME_STATS_SAMPLES
    }
}

/// The four times of a finished session, in milliseconds, as HAProxy feeds
/// `stream_update_time_stats`: queue (`%Tw`), connect (`%Tc`), data (0 in
/// TCP mode) and total (`%Tt`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTimes {
    /// Time spent waiting in a queue.
    pub queue_ms: u32,
    /// Time to establish the server connection.
    pub connect_ms: u32,
    /// Time to the server's first response (HTTP only: 0 for TCP).
    pub data_ms: u32,
    /// Whole session time.
    pub total_ms: u32,
}

/// Process-wide counters (`show info`, `haproxy_process_*`).
#[derive(Debug, Clone, Default)]
pub struct ProcessCounters {
    /// Connections open now (`CurrConns`, HAProxy's `actconn`).
    pub cur_conns: u32,
    /// Connections accepted since start (`CumConns`).
    pub cum_conns: u64,
    /// HTTP requests served (stats page, metrics) (`CumReq`).
    pub cum_req: u64,
    /// Highest connection rate seen (`MaxConnRate`).
    pub cps_max: u32,
    /// Highest session rate seen (`MaxSessRate`).
    pub sps_max: u32,
    /// Log lines dropped because the log socket was full (`DroppedLogs`).
    pub dropped_logs: u64,
    /// Bytes sent on every socket (`TotalBytesOut`).
    pub bytes_out: u64,
    conn_rate: FreqCtr,
    sess_rate: FreqCtr,
    out_32bps: FreqCtr,
}

impl ProcessCounters {
    /// A connection was accepted on any listener.
    pub fn connection_accepted(&mut self, now: Instant) {
        self.cur_conns = self.cur_conns.saturating_add(1);
        self.cum_conns += 1;
        let rate = self.conn_rate.update(now, 1);
        self.cps_max = self.cps_max.max(rate);
    }

    /// An accepted connection became a session (it was not refused).
    pub fn session_started(&mut self, now: Instant) {
        let rate = self.sess_rate.update(now, 1);
        self.sps_max = self.sps_max.max(rate);
    }

    /// An accepted connection was closed.
    pub fn connection_closed(&mut self) {
        self.cur_conns = self.cur_conns.saturating_sub(1);
    }

    /// `n` bytes were written to a socket (HAProxy counts them in units of
    /// 32 bytes for the rate).
    pub fn bytes_sent(&mut self, now: Instant, n: u64) {
        self.bytes_out += n;
        let units = (n.saturating_add(16) / 32).min(u64::from(u32::MAX)) as u32;
        self.out_32bps.update(now, units);
    }

    /// An HTTP request was served by the stats/metrics responder.
    pub fn request_served(&mut self) {
        self.cum_req += 1;
    }

    /// A log line was dropped.
    pub fn log_dropped(&mut self) {
        self.dropped_logs += 1;
    }

    /// Connections per second over the last second (`ConnRate`).
    pub fn conn_rate(&self, now: Instant) -> u32 {
        self.conn_rate.read(now)
    }

    /// Sessions per second over the last second (`SessRate`).
    pub fn sess_rate(&self, now: Instant) -> u32 {
        self.sess_rate.read(now)
    }

    /// Bytes per second sent over the last second (`BytesOutRate`).
    pub fn bytes_out_rate(&self, now: Instant) -> u64 {
        u64::from(self.out_32bps.read(now)) * 32
    }

    /// `clear counters` and `clear counters all` both reset the process
    /// maxima, and only those.
    pub fn clear_max(&mut self) {
        self.cps_max = 0;
        self.sps_max = 0;
    }
}

/// HTTP counters of a `mode http` frontend (the metrics/stats responder).
#[derive(Debug, Clone, Default)]
pub struct HttpCounters {
    /// Requests received (`req_tot`).
    pub cum_req: u64,
    /// Responses by class: index 1..=5 for 1xx..5xx, 0 for others.
    pub rsp: [u64; 6],
    /// Requests answered by the frontend itself (`intercepted`).
    pub intercepted: u64,
    /// Highest request rate seen (`req_rate_max`).
    pub rps_max: u32,
    req_rate: FreqCtr,
}

impl HttpCounters {
    /// A request was received and answered by the frontend with `status`.
    pub fn request(&mut self, now: Instant, status: u16) {
        self.cum_req += 1;
        self.intercepted += 1;
        let rate = self.req_rate.update(now, 1);
        self.rps_max = self.rps_max.max(rate);
        let class = usize::from(status / 100);
        self.rsp[if (1..=5).contains(&class) { class } else { 0 }] += 1;
    }

    /// Requests over the last second (`req_rate`).
    pub fn req_rate(&self, now: Instant) -> u32 {
        self.req_rate.read(now)
    }
}

/// A frontend's counters (HAProxy's `fe_counters` plus the current count and
/// rates kept in its proxy).
#[derive(Debug, Clone, Default)]
pub struct FrontendCounters {
    /// Sessions open now (`scur`).
    pub cur_sess: u32,
    /// Highest `cur_sess` seen (`smax`).
    pub conn_max: u32,
    /// Connections received (`conn_tot`).
    pub cum_conn: u64,
    /// Sessions accepted (`stot`).
    pub cum_sess: u64,
    /// Highest connection rate (`conn_rate_max`).
    pub cps_max: u32,
    /// Highest session rate (`rate_max`).
    pub sps_max: u32,
    /// Bytes from clients (`bin`).
    pub bytes_in: u64,
    /// Bytes to clients (`bout`).
    pub bytes_out: u64,
    /// Requests denied (`dreq`).
    pub denied_req: u64,
    /// Responses denied (`dresp`).
    pub denied_resp: u64,
    /// Invalid requests, e.g. a bad PROXY header (`ereq`).
    pub failed_req: u64,
    /// Connections refused by `tcp-request connection` rules (`dcon`).
    pub denied_conn: u64,
    /// Sessions refused by `tcp-request session` rules (`dses`).
    pub denied_sess: u64,
    /// Internal errors (`eint`).
    pub internal_errors: u64,
    /// HTTP counters, for a `mode http` frontend only.
    pub http: Option<HttpCounters>,
    conn_rate: FreqCtr,
    sess_rate: FreqCtr,
}

impl FrontendCounters {
    /// Counters for a `mode http` frontend.
    pub fn http() -> Self {
        Self {
            http: Some(HttpCounters::default()),
            ..Self::default()
        }
    }

    /// A connection arrived on one of the frontend's listeners.
    pub fn connection_received(&mut self, now: Instant) {
        self.cum_conn += 1;
        let rate = self.conn_rate.update(now, 1);
        self.cps_max = self.cps_max.max(rate);
    }

    /// The connection was accepted as a session.
    pub fn session_started(&mut self, now: Instant) {
        self.cur_sess = self.cur_sess.saturating_add(1);
        self.conn_max = self.conn_max.max(self.cur_sess);
        self.cum_sess += 1;
        let rate = self.sess_rate.update(now, 1);
        self.sps_max = self.sps_max.max(rate);
    }

    /// A session of this frontend ended.
    pub fn session_ended(&mut self) {
        self.cur_sess = self.cur_sess.saturating_sub(1);
    }

    /// Connections per second over the last second (`conn_rate`).
    pub fn conn_rate(&self, now: Instant) -> u32 {
        self.conn_rate.read(now)
    }

    /// Sessions per second over the last second (`rate`).
    pub fn sess_rate(&self, now: Instant) -> u32 {
        self.sess_rate.read(now)
    }

    /// `clear counters`: the maxima.
    pub fn clear_max(&mut self) {
        self.conn_max = 0;
        self.sps_max = 0;
        self.cps_max = 0;
        if let Some(http) = &mut self.http {
            http.rps_max = 0;
        }
    }

    /// `clear counters all`: every counter; sessions and rates stay.
    pub fn clear_all(&mut self) {
        *self = Self {
            cur_sess: self.cur_sess,
            http: self.http.as_ref().map(|h| HttpCounters {
                req_rate: h.req_rate.clone(),
                ..HttpCounters::default()
            }),
            conn_rate: std::mem::take(&mut self.conn_rate),
            sess_rate: std::mem::take(&mut self.sess_rate),
            ..Self::default()
        };
    }
}

/// Counters of a backend or of a server (HAProxy's `be_counters` plus the
/// current sessions, queue and session rate).
#[derive(Debug, Clone, Default)]
pub struct BackendCounters {
    /// Sessions open now (`scur`).
    pub cur_sess: u32,
    /// Highest `cur_sess` seen (`smax`).
    pub cur_sess_max: u32,
    /// Sessions queued now (`qcur`).
    pub queue_cur: u32,
    /// Highest `queue_cur` seen (`qmax`).
    pub queue_max: u32,
    /// Sessions assigned (`stot`).
    pub cum_sess: u64,
    /// Times chosen by load balancing (`lbtot`).
    pub cum_lbconn: u64,
    /// When the last session was assigned (`lastsess`).
    pub last_sess: Option<Instant>,
    /// Highest session rate (`rate_max`).
    pub sps_max: u32,
    /// Bytes from clients (`bin`).
    pub bytes_in: u64,
    /// Bytes to clients (`bout`).
    pub bytes_out: u64,
    /// Requests denied (`dreq`, backends only).
    pub denied_req: u64,
    /// Responses denied (`dresp`).
    pub denied_resp: u64,
    /// Connection attempts (`connect`).
    pub connect: u64,
    /// Failed connection attempts (`econ`).
    pub failed_conns: u64,
    /// Server-side read/write errors (`eresp`).
    pub failed_resp: u64,
    /// Sessions the client aborted (`cli_abrt`).
    pub cli_aborts: u64,
    /// Sessions the server aborted (`srv_abrt`).
    pub srv_aborts: u64,
    /// Connection retries (`wretr`).
    pub retries: u64,
    /// Redispatches to another server (`wredis`).
    pub redispatches: u64,
    /// Internal errors (`eint`).
    pub internal_errors: u64,
    /// Failed health checks (`chkfail`, servers).
    pub failed_checks: u64,
    /// Failed passive checks (`hanafail`, servers with `observe`).
    pub failed_hana: u64,
    /// UP to DOWN transitions (`chkdown`, servers; a backend's are in its
    /// [`StateHistory`]).
    pub down_trans: u64,
    q_time: SwRate,
    c_time: SwRate,
    d_time: SwRate,
    t_time: SwRate,
    /// Highest queue time in ms (`qtime_max`).
    pub qtime_max: u32,
    /// Highest connect time in ms (`ctime_max`).
    pub ctime_max: u32,
    /// Highest response time in ms (`rtime_max`).
    pub dtime_max: u32,
    /// Highest total time in ms (`ttime_max`).
    pub ttime_max: u32,
    sess_rate: FreqCtr,
}

impl BackendCounters {
    /// A session was assigned to this backend or server.
    pub fn session_assigned(&mut self, now: Instant) {
        self.cum_sess += 1;
        self.last_sess = Some(now);
        let rate = self.sess_rate.update(now, 1);
        self.sps_max = self.sps_max.max(rate);
    }

    /// Load balancing picked this backend's server / this server.
    pub fn selected(&mut self) {
        self.cum_lbconn += 1;
    }

    /// A session started using this backend or server.
    pub fn session_started(&mut self) {
        self.cur_sess = self.cur_sess.saturating_add(1);
        self.cur_sess_max = self.cur_sess_max.max(self.cur_sess);
    }

    /// A session stopped using it.
    pub fn session_ended(&mut self) {
        self.cur_sess = self.cur_sess.saturating_sub(1);
    }

    /// The queue now holds `len` sessions.
    pub fn set_queue(&mut self, len: u32) {
        self.queue_cur = len;
        self.queue_max = self.queue_max.max(len);
    }

    /// A session ended after its server connection was established: feeds
    /// the averages and maxima (`stream_update_time_stats`).
    pub fn record_times(&mut self, t: SessionTimes) {
        let n = if self.cum_lbconn > u64::from(TIME_STATS_SAMPLES) {
            TIME_STATS_SAMPLES
        } else {
            0
        };
        self.q_time.add(n, t.queue_ms);
        self.c_time.add(n, t.connect_ms);
        self.d_time.add(n, t.data_ms);
        self.t_time.add(n, t.total_ms);
        self.qtime_max = self.qtime_max.max(t.queue_ms);
        self.ctime_max = self.ctime_max.max(t.connect_ms);
        self.dtime_max = self.dtime_max.max(t.data_ms);
        self.ttime_max = self.ttime_max.max(t.total_ms);
    }

    /// Average times as `show stat` reads them (window: sessions counted,
    /// up to 1024): `[qtime, ctime, rtime, ttime]` in ms.
    pub fn avg_times(&self) -> [u32; 4] {
        let n = samples_window(self.cum_lbconn);
        [self.q_time, self.c_time, self.d_time, self.t_time].map(|s| s.avg(n))
    }

    /// Average times as the Prometheus exporter reads them (always over a
    /// window of 1024), in ms.
    pub fn avg_times_1024(&self) -> [u32; 4] {
        [self.q_time, self.c_time, self.d_time, self.t_time].map(|s| s.avg(TIME_STATS_SAMPLES))
    }

    /// Sessions per second over the last second (`rate`).
    pub fn sess_rate(&self, now: Instant) -> u32 {
        self.sess_rate.read(now)
    }

    /// Seconds since the last session, or -1 if none (`lastsess`).
    pub fn last_sess_secs(&self, now: Instant) -> i64 {
        match self.last_sess {
            Some(t) => secs(now.saturating_duration_since(t)) as i64,
            None => -1,
        }
    }

    /// `clear counters`: the maxima.
    pub fn clear_max(&mut self) {
        self.cur_sess_max = 0;
        self.queue_max = 0;
        self.sps_max = 0;
        self.qtime_max = 0;
        self.ctime_max = 0;
        self.dtime_max = 0;
        self.ttime_max = 0;
    }

    /// `clear counters all`: every counter; sessions, queue and rate stay.
    pub fn clear_all(&mut self) {
        *self = Self {
            cur_sess: self.cur_sess,
            queue_cur: self.queue_cur,
            sess_rate: std::mem::take(&mut self.sess_rate),
            ..Self::default()
        };
    }
}

/// When a server or backend last changed state and how long it has been
/// DOWN in total (HAProxy's `last_change`, `down_time`, and a backend's
/// `down_trans`). Not reset by `clear counters`.
#[derive(Debug, Clone)]
pub struct StateHistory {
    last_change: Instant,
    down_time: Duration,
    down: bool,
    /// Transitions to DOWN (a backend's `chkdown`).
    pub down_trans: u64,
}

impl StateHistory {
    /// Starts at `now` in the given state.
    pub fn new(now: Instant, down: bool) -> Self {
        Self {
            last_change: now,
            down_time: Duration::ZERO,
            down,
            down_trans: 0,
        }
    }

    /// Records a state change at `now` (any change: health, admin, weight
    /// to or from zero); `down` is the new state.
    pub fn changed(&mut self, now: Instant, down: bool) {
        if self.down && !down {
            self.down_time += now.saturating_duration_since(self.last_change);
        }
        if !self.down && down {
            self.down_trans += 1;
        }
        self.down = down;
        self.last_change = now;
    }

    /// The last change happened `secs` seconds before `now` (a state
    /// restored from a file); no earlier than `now` allows.
    pub fn changed_secs_ago(&mut self, now: Instant, secs: u64) {
        let ago = Duration::from_secs(secs);
        self.last_change = now.checked_sub(ago).unwrap_or(self.last_change);
    }

    /// Whether the last recorded state is DOWN.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Seconds since the last change (`lastchg`).
    pub fn last_change_secs(&self, now: Instant) -> u64 {
        secs(now.saturating_duration_since(self.last_change))
    }

    /// Seconds spent DOWN, including the current DOWN period (`downtime`).
    pub fn downtime_secs(&self, now: Instant) -> u64 {
        let current = if self.down {
            now.saturating_duration_since(self.last_change)
        } else {
            Duration::ZERO
        };
        secs(self.down_time + current)
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    /// HAProxy's freq_ctr in C terms, on integer millisecond ticks, for
    /// comparison (`update_freq_ctr_period` and `freq_ctr_total`, without
    /// the locking bit).
    #[derive(Default)]
    struct CFreq {
        tick: u32,
        curr: u32,
        prev: u32,
    }
    impl CFreq {
        fn update(&mut self, now: u32, inc: u32) {
            if now.wrapping_sub(self.tick) < 1000 {
                self.curr += inc;
                return;
            }
            self.prev = std::mem::replace(&mut self.curr, inc);
            self.tick = self.tick.wrapping_add(1000);
            if now.wrapping_sub(self.tick) >= 1000 {
                self.prev = 0;
                self.tick = now;
            }
        }
        fn read(&self, now: u32) -> u32 {
            let (mut curr, mut past) = (u64::from(self.curr), u64::from(self.prev));
            let mut remain = self.tick.wrapping_add(1000).wrapping_sub(now) as i32;
            if remain < 0 {
                remain += 1000;
                past = if remain >= 0 { curr } else { 0 };
                curr = 0;
            }
            if curr == 0 && past <= 1 {
                return past as u32;
            }
            ((past * remain as u64 + curr * 1000) / 1000) as u32
        }
    }

    #[test]
    fn freq_ctr_matches_haproxy_formula() {
        let base = super::super::tests::epoch();
        // Start the C model at a tick far from 0 the way HAProxy's first
        // update does (it rotates twice and lands on `now`).
        let start = 50_000u32;
        let mut c = CFreq::default();
        let mut r = FreqCtr::default();
        let mut t = 0u32;
        let mut seed = 7u32;
        for _ in 0..5000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            t += (seed >> 16) % 400;
            let inc = (seed >> 8) % 4;
            c.update(start + t, inc);
            r.update(at(base, u64::from(t)), inc);
            for probe in [0, 1, 250, 999, 1000, 1500, 2500] {
                assert_eq!(
                    r.read(at(base, u64::from(t + probe))),
                    c.read(start + t + probe),
                    "t={t} probe={probe}"
                );
            }
        }
    }

    #[test]
    fn freq_ctr_weights_the_previous_second() {
        let base = super::super::tests::epoch();
        let mut f = FreqCtr::default();
        for _ in 0..10 {
            f.update(base, 1);
        }
        assert_eq!(f.read(base), 10);
        assert_eq!(f.read(at(base, 999)), 10);
        // Half of the previous period still counts.
        assert_eq!(f.read(at(base, 1500)), 5);
        assert_eq!(f.read(at(base, 2000)), 0);
        // A single event per period does not flap to zero.
        let mut g = FreqCtr::default();
        g.update(base, 1);
        assert_eq!(g.read(at(base, 1999)), 1);
    }

    #[test]
    fn swrate_is_exact_mean_then_sliding_window() {
        let mut b = BackendCounters::default();
        for v in [10, 20, 30] {
            b.selected();
            b.record_times(SessionTimes {
                queue_ms: 0,
                connect_ms: v,
                data_ms: 0,
                total_ms: v * 2,
            });
        }
        assert_eq!(b.avg_times(), [0, 20, 0, 40]);
        assert_eq!((b.ctime_max, b.ttime_max), (30, 60));
        // Past 1024 sessions: sum - ceil(sum/1024) + v, read over 1024.
        let mut s = SwRate::default();
        for _ in 0..1024 {
            s.add(0, 100);
        }
        assert_eq!(s.avg(1024), 100);
        s.add(1024, 1124);
        assert_eq!(s.sum, 102_400 - 100 + 1124);
        assert_eq!(s.avg(1024), (102_400u32 - 100 + 1124).div_ceil(1024));
    }

    #[test]
    fn state_history_accumulates_downtime() {
        let base = super::super::tests::epoch();
        let mut h = StateHistory::new(base, false);
        h.changed(at(base, 5_000), true);
        assert_eq!(h.downtime_secs(at(base, 12_500)), 7);
        h.changed(at(base, 15_000), false);
        assert_eq!(h.downtime_secs(at(base, 100_000)), 10);
        assert_eq!(h.last_change_secs(at(base, 100_000)), 85);
        assert_eq!(h.down_trans, 1);
    }

    #[test]
    fn clear_counters_keeps_current_values() {
        let now = super::super::tests::epoch();
        let mut f = FrontendCounters::default();
        f.connection_received(now);
        f.session_started(now);
        f.bytes_in = 10;
        f.clear_max();
        assert_eq!(
            (f.conn_max, f.sps_max, f.cum_sess, f.bytes_in),
            (0, 0, 1, 10)
        );
        f.clear_all();
        assert_eq!((f.cur_sess, f.cum_sess, f.bytes_in), (1, 0, 0));
        assert_eq!(f.sess_rate(now), 1);
        let mut b = BackendCounters::default();
        b.session_started();
        b.set_queue(3);
        b.clear_all();
        assert_eq!(
            (b.cur_sess, b.cur_sess_max, b.queue_cur, b.queue_max),
            (1, 0, 3, 0)
        );
    }
}
