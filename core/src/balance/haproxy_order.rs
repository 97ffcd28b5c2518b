//! Sequences captured from HAProxy 2.6 (`/usr/sbin/haproxy`, `mode tcp`,
//! one `listen` with servers `s1..sN` on loopback that answer their name):
//! connections one after the other, connections held open (`Hold`) then
//! closed in the order they were opened (`Release`), and `disable server`,
//! `enable server`, `set server B/S weight N` on the stats socket between
//! them. Server `sK` is index `K-1`; a disabled server has weight 0.

use super::{Lb, Member, Policy};
use crate::config::{Balance, HashType};
use crate::rng::Rng;
use std::net::{IpAddr, Ipv4Addr};

/// One step of a capture.
enum Step {
    /// Connections one at a time, each closed before the next: the
    /// servers HAProxy chose.
    Picks(&'static [usize]),
    /// Connections kept open: the servers HAProxy chose.
    Hold(&'static [usize]),
    /// Every held connection closed, oldest first.
    Release,
    /// Server `.0`'s weight is now `.1`.
    Weight(usize, u32),
}
use Step::*;

struct Capture {
    name: &'static str,
    balance: Balance,
    weights: &'static [u32],
    steps: &'static [Step],
}

const CAPTURES: &[Capture] = &[
    Capture {
        name: "rr_1_2_3",
        balance: Balance::RoundRobin,
        weights: &[1, 2, 3],
        // 24 connections
        steps: &[Picks(&[
            2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1,
        ])],
    },
    Capture {
        name: "rr_equal",
        balance: Balance::RoundRobin,
        weights: &[1, 1, 1, 1],
        // 9 connections
        steps: &[Picks(&[0, 1, 2, 3, 0, 1, 2, 3, 0])],
    },
    Capture {
        name: "rr_5_3_2_1",
        balance: Balance::RoundRobin,
        weights: &[5, 3, 2, 1],
        // 24 connections
        steps: &[Picks(&[
            0, 1, 0, 2, 0, 1, 0, 3, 1, 2, 0, 0, 1, 0, 2, 0, 1, 0, 3, 1, 2, 0, 0, 1,
        ])],
    },
    Capture {
        name: "rr_1_to_6",
        balance: Balance::RoundRobin,
        weights: &[1, 2, 3, 4, 5, 6],
        // 30 connections
        steps: &[Picks(&[
            5, 4, 3, 5, 2, 4, 1, 5, 3, 4, 5, 2, 3, 4, 5, 0, 1, 5, 3, 4, 2, 5, 4, 3, 5, 2, 4, 1, 5,
            3,
        ])],
    },
    Capture {
        name: "rr_down_up",
        balance: Balance::RoundRobin,
        weights: &[1, 2, 3],
        // 4 connections; disable server fe/s3; 6 connections; enable server fe/s3; 14 connections; disable server fe/s1; 5 connections; enable server fe/s1; 14 connections
        steps: &[
            Picks(&[2, 1, 2, 0]),
            Weight(2, 0),
            Picks(&[1, 1, 1, 1, 0, 1]),
            Weight(2, 3),
            Picks(&[2, 1, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2, 2, 1]),
            Weight(0, 0),
            Picks(&[2, 1, 2, 2, 1]),
            Weight(0, 1),
            Picks(&[2, 1, 2, 0, 2, 1, 2, 1, 2, 0, 2, 1, 2, 1]),
        ],
    },
    Capture {
        name: "rr_set_weight",
        balance: Balance::RoundRobin,
        weights: &[2, 2, 2],
        // 3 connections; set server fe/s2 weight 5; 14 connections; set server fe/s1 weight 0; 8 connections; set server fe/s1 weight 1; 12 connections; set server fe/s3 weight 1; 10 connections
        steps: &[
            Picks(&[0, 1, 2]),
            Weight(1, 5),
            Picks(&[0, 1, 2, 1, 1, 0, 1, 2, 1, 0, 1, 2, 1, 1]),
            Weight(0, 0),
            Picks(&[1, 2, 1, 1, 2, 1, 1, 1]),
            Weight(0, 1),
            Picks(&[2, 1, 1, 2, 1, 1, 0, 1, 2, 1, 1, 2]),
            Weight(2, 1),
            Picks(&[1, 1, 0, 1, 2, 1, 1, 1, 1, 0]),
        ],
    },
    Capture {
        name: "rr_weight_mid_cycle",
        balance: Balance::RoundRobin,
        weights: &[3, 3],
        // 2 connections; set server fe/s1 weight 1; 8 connections; set server fe/s2 weight 10; 14 connections
        steps: &[
            Picks(&[0, 1]),
            Weight(0, 1),
            Picks(&[1, 1, 1, 0, 1, 1, 1, 0]),
            Weight(1, 10),
            Picks(&[1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ],
    },
    Capture {
        name: "static_1_2_3",
        balance: Balance::StaticRr,
        weights: &[1, 2, 3],
        // 12 connections
        steps: &[Picks(&[0, 2, 1, 2, 1, 2, 0, 2, 1, 2, 1, 2])],
    },
    Capture {
        name: "static_2_4_6",
        balance: Balance::StaticRr,
        weights: &[2, 4, 6],
        // 12 connections
        steps: &[Picks(&[0, 2, 1, 2, 1, 2, 0, 2, 1, 2, 1, 2])],
    },
    Capture {
        name: "static_4_3_1_5",
        balance: Balance::StaticRr,
        weights: &[4, 3, 1, 5],
        // 26 connections
        steps: &[Picks(&[
            0, 1, 3, 0, 1, 3, 0, 3, 1, 0, 3, 2, 3, 0, 1, 3, 0, 1, 3, 0, 3, 1, 0, 3, 2, 3,
        ])],
    },
    Capture {
        name: "static_down_up",
        balance: Balance::StaticRr,
        weights: &[1, 2, 3],
        // 4 connections; disable server fe/s3; 5 connections; enable server fe/s3; 8 connections; disable server fe/s1; 4 connections; enable server fe/s1; 7 connections
        steps: &[
            Picks(&[0, 2, 1, 2]),
            Weight(2, 0),
            Picks(&[0, 1, 1, 0, 1]),
            Weight(2, 3),
            Picks(&[1, 2, 1, 2, 0, 2, 1, 2]),
            Weight(0, 0),
            Picks(&[2, 1, 2, 1]),
            Weight(0, 1),
            Picks(&[2, 1, 2, 0, 2, 1, 2]),
        ],
    },
    Capture {
        name: "lc_1_2_1",
        balance: Balance::LeastConn,
        weights: &[1, 2, 1],
        // hold 8; release; 4 connections
        steps: &[
            Hold(&[0, 1, 2, 1, 1, 0, 2, 1]),
            Release,
            Picks(&[0, 2, 1, 0]),
        ],
    },
    Capture {
        name: "lc_3_1_2",
        balance: Balance::LeastConn,
        weights: &[3, 1, 2],
        // 4 connections; hold 10; release; 5 connections
        steps: &[
            Picks(&[0, 1, 2, 0]),
            Hold(&[1, 2, 0, 0, 2, 0, 0, 2, 0, 1]),
            Release,
            Picks(&[2, 0, 1, 2, 0]),
        ],
    },
    Capture {
        name: "lc_weight",
        balance: Balance::LeastConn,
        weights: &[1, 1, 1],
        // hold 3; set server fe/s2 weight 3; hold 5; disable server fe/s1; hold 2; enable server fe/s1; hold 3; release; 4 connections
        steps: &[
            Hold(&[0, 1, 2]),
            Weight(1, 3),
            Hold(&[1, 1, 1, 1, 0]),
            Weight(0, 0),
            Hold(&[2, 1]),
            Weight(0, 1),
            Hold(&[1, 1, 2]),
            Release,
            Picks(&[0, 1, 2, 0]),
        ],
    },
];

/// Replays one capture through [`Lb`], loads following the sessions.
fn replay(c: &Capture) {
    let policy = Policy {
        balance: c.balance,
        hash_type: HashType::MapBased,
        balance_factor: None,
        allbackups: false,
    };
    let members: Vec<Member> = (c.weights.iter())
        .map(|&weight| Member {
            weight,
            backup: false,
        })
        .collect();
    let mut lb = Lb::new(policy, &members);
    for (i, &w) in c.weights.iter().enumerate() {
        lb.set_weight(i, w);
    }
    let mut rng = Rng::new(1);
    let any = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut load = vec![0u32; c.weights.len()];
    let mut held = Vec::new();
    for (n, step) in c.steps.iter().enumerate() {
        match step {
            Picks(want) | Hold(want) => {
                let mut got = Vec::new();
                for _ in 0..want.len() {
                    let i = lb.pick(any, &mut rng, |_| true).expect("a server");
                    got.push(i);
                    load[i] += 1;
                    lb.set_load(i, load[i]);
                    if matches!(step, Picks(_)) {
                        load[i] -= 1;
                        lb.set_load(i, load[i]);
                    } else {
                        held.push(i);
                    }
                }
                assert_eq!(&got, want, "{} step {n}", c.name);
            }
            Release => {
                for i in held.drain(..) {
                    load[i] -= 1;
                    lb.set_load(i, load[i]);
                }
            }
            Weight(i, w) => lb.set_weight(*i, *w),
        }
    }
}

#[test]
fn roundrobin_static_rr_and_leastconn_pick_as_haproxy() {
    for c in CAPTURES {
        replay(c);
    }
}
