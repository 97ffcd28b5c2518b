//! Counters of several event loops added up (see [`crate::loops`]): sums
//! of counts, current values and maxima (a sum of maxima bounds the
//! maximum of the sum from above), the latest of times. Averages of
//! session times stay loop 0's.

use super::{BackendCounters, FrontendCounters};

impl FrontendCounters {
    /// Adds another loop's counters of the same frontend.
    pub fn add_peer(&mut self, other: &FrontendCounters) {
        self.cur_sess += other.cur_sess;
        self.conn_max += other.conn_max;
        self.cum_conn += other.cum_conn;
        self.cum_sess += other.cum_sess;
        self.cps_max += other.cps_max;
        self.sps_max += other.sps_max;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.denied_req += other.denied_req;
        self.denied_resp += other.denied_resp;
        self.failed_req += other.failed_req;
        self.denied_conn += other.denied_conn;
        self.denied_sess += other.denied_sess;
        self.internal_errors += other.internal_errors;
    }
}

impl BackendCounters {
    /// Adds another loop's counters of the same backend or server. Its
    /// checks' counters (`chkfail`, `chkdown`) are loop 0's alone: the
    /// other loops follow its verdicts.
    pub fn add_peer(&mut self, other: &BackendCounters) {
        self.cur_sess += other.cur_sess;
        self.cur_sess_max += other.cur_sess_max;
        self.queue_cur += other.queue_cur;
        self.queue_max += other.queue_max;
        self.cum_sess += other.cum_sess;
        self.cum_lbconn += other.cum_lbconn;
        self.last_sess = self.last_sess.max(other.last_sess);
        self.sps_max += other.sps_max;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.denied_req += other.denied_req;
        self.denied_resp += other.denied_resp;
        self.connect += other.connect;
        self.failed_conns += other.failed_conns;
        self.failed_resp += other.failed_resp;
        self.cli_aborts += other.cli_aborts;
        self.srv_aborts += other.srv_aborts;
        self.retries += other.retries;
        self.redispatches += other.redispatches;
        self.internal_errors += other.internal_errors;
        self.failed_hana += other.failed_hana;
        self.qtime_max = self.qtime_max.max(other.qtime_max);
        self.ctime_max = self.ctime_max.max(other.ctime_max);
        self.dtime_max = self.dtime_max.max(other.dtime_max);
        self.ttime_max = self.ttime_max.max(other.ttime_max);
    }
}
