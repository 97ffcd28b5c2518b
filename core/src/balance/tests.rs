//! Each algorithm as a scenario: weights, loads, filters, groups.

use std::collections::HashMap;
use std::net::IpAddr;

use super::{Lb, Member, Policy};
use crate::config::{Balance, HashType};
use crate::rng::Rng;

fn policy(balance: Balance) -> Policy {
    Policy {
        balance,
        hash_type: HashType::MapBased,
        balance_factor: None,
        allbackups: false,
    }
}

/// A balancer over active servers of `weights`, all eligible at them.
fn lb_with(policy: Policy, weights: &[u32]) -> Lb {
    let members: Vec<Member> = weights
        .iter()
        .map(|&weight| Member {
            weight,
            backup: false,
        })
        .collect();
    let mut lb = Lb::new(policy, &members);
    for (i, &w) in weights.iter().enumerate() {
        lb.set_weight(i, w);
    }
    lb
}

fn lb_of(balance: Balance, weights: &[u32]) -> Lb {
    lb_with(policy(balance), weights)
}

fn client(n: u32) -> IpAddr {
    IpAddr::from((0x0a00_0000 | n).to_be_bytes())
}

const ANY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// `n` picks, each a session that opens and closes before the next (its
/// server's load goes to 1 and back to 0, as HAProxy's does).
fn picks(lb: &mut Lb, n: usize) -> Vec<usize> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|_| {
            let i = lb.pick(ANY, &mut rng, |_| true).expect("a server");
            brief_session(lb, i);
            i
        })
        .collect()
}

/// A session on server `i` opens and closes.
fn brief_session(lb: &mut Lb, i: usize) {
    lb.set_load(i, 1);
    lb.set_load(i, 0);
}

/// `n` picks that leave the loads as they are.
fn draws(lb: &mut Lb, n: usize) -> Vec<usize> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|_| lb.pick(ANY, &mut rng, |_| true).expect("a server"))
        .collect()
}

fn counts(picked: &[usize], servers: usize) -> Vec<usize> {
    let mut c = vec![0; servers];
    for &i in picked {
        c[i] += 1;
    }
    c
}

/// Every algorithm, for the checks they all share.
fn all_algorithms() -> Vec<Policy> {
    let mut all: Vec<Policy> = [
        Balance::RoundRobin,
        Balance::StaticRr,
        Balance::LeastConn,
        Balance::First,
        Balance::Source,
        Balance::Random { draws: 2 },
    ]
    .into_iter()
    .map(policy)
    .collect();
    all.push(Policy {
        hash_type: HashType::Consistent,
        ..policy(Balance::Source)
    });
    all.push(Policy {
        hash_type: HashType::Consistent,
        balance_factor: Some(150),
        ..policy(Balance::Source)
    });
    all
}

// --- roundrobin / static-rr ---

#[test]
fn roundrobin_equal_weights_alternate() {
    let mut lb = lb_of(Balance::RoundRobin, &[1, 1, 1]);
    assert_eq!(picks(&mut lb, 6), [0, 1, 2, 0, 1, 2]);
}

#[test]
fn roundrobin_gives_exact_shares_per_cycle_interleaved() {
    // HAProxy 2.6's order (captured from haproxy).
    let mut lb = lb_of(Balance::RoundRobin, &[5, 1, 1]);
    assert_eq!(picks(&mut lb, 7), [0, 0, 0, 1, 0, 0, 2]);
    let mut lb = lb_with(policy(Balance::RoundRobin), &[5, 3, 2, 1]);
    for _ in 0..50 {
        assert_eq!(counts(&picks(&mut lb, 11), 4), [5, 3, 2, 1]);
    }
    let mut lb = lb_with(policy(Balance::RoundRobin), &[3, 1]);
    assert_eq!(picks(&mut lb, 8), [0, 0, 0, 1, 0, 0, 0, 1]);
}

#[test]
fn roundrobin_weight_changes_apply_at_once() {
    let mut lb = lb_of(Balance::RoundRobin, &[1, 1]);
    picks(&mut lb, 10);
    lb.set_weight(1, 3);
    assert_eq!(counts(&picks(&mut lb, 400), 2), [100, 300]);
    lb.set_weight(1, 0);
    assert!(picks(&mut lb, 10).iter().all(|&i| i == 0));
}

#[test]
fn roundrobin_returning_server_gets_no_burst() {
    let mut lb = lb_of(Balance::RoundRobin, &[1, 1, 1]);
    lb.set_weight(2, 0);
    picks(&mut lb, 1000);
    lb.set_weight(2, 1);
    let got = picks(&mut lb, 30);
    // Its fair share from now on, not the 500 picks it missed.
    assert_eq!(counts(&got, 3), [10, 10, 10]);
    assert!(got[..3].contains(&2));
}

#[test]
fn roundrobin_refused_server_catches_up_without_burst() {
    let mut lb = lb_of(Balance::RoundRobin, &[1, 1]);
    let mut rng = Rng::new(1);
    for _ in 0..100 {
        assert_eq!(lb.pick(ANY, &mut rng, |i| i != 1), Some(0));
    }
    let got = picks(&mut lb, 10);
    assert_eq!(counts(&got, 2), [5, 5]);
}

#[test]
fn static_rr_keeps_configured_weights() {
    let mut lb = lb_of(Balance::StaticRr, &[3, 1]);
    // A slowstart ramp or `set weight 1` does not change the shares...
    lb.set_weight(0, 1);
    assert_eq!(counts(&picks(&mut lb, 400), 2), [300, 100]);
    // ...only going to 0 and back does.
    lb.set_weight(0, 0);
    assert!(picks(&mut lb, 10).iter().all(|&i| i == 1));
    lb.set_weight(0, 7);
    assert_eq!(counts(&picks(&mut lb, 400), 2), [300, 100]);
}

// --- leastconn ---

#[test]
fn leastconn_follows_load_per_weight() {
    let mut lb = lb_of(Balance::LeastConn, &[1, 1, 2]);
    let mut rng = Rng::new(1);
    lb.set_load(0, 5);
    lb.set_load(1, 1);
    lb.set_load(2, 4);
    // 1/1 < 4/2 < 5/1.
    assert_eq!(lb.pick(ANY, &mut rng, |_| true), Some(1));
    lb.set_load(1, 3);
    assert_eq!(lb.pick(ANY, &mut rng, |_| true), Some(2));
    assert_eq!(lb.pick(ANY, &mut rng, |i| i != 2), Some(1));
}

#[test]
fn leastconn_round_robins_equals_and_fills_evenly() {
    let mut lb = lb_of(Balance::LeastConn, &[1, 1, 1]);
    assert_eq!(picks(&mut lb, 6), [0, 1, 2, 0, 1, 2]);
    // Sessions that stay open: loads stay level, weighted.
    let mut lb = lb_with(policy(Balance::LeastConn), &[1, 2, 1]);
    let mut rng = Rng::new(1);
    let mut load = [0u32; 3];
    for _ in 0..400 {
        let i = lb.pick(ANY, &mut rng, |_| true).unwrap();
        load[i] += 1;
        lb.set_load(i, load[i]);
    }
    assert_eq!(load, [100, 200, 100]);
}

// --- first ---

#[test]
fn first_fills_servers_in_order() {
    let mut lb = lb_of(Balance::First, &[1, 5, 1]);
    let mut rng = Rng::new(1);
    let maxconn = 2;
    let mut load = [0u32; 3];
    let mut order = Vec::new();
    for _ in 0..6 {
        let i = lb
            .pick(ANY, &mut rng, |i| load[i] < maxconn)
            .expect("a free slot");
        load[i] += 1;
        order.push(i);
    }
    assert_eq!(order, [0, 0, 1, 1, 2, 2]);
    assert_eq!(lb.pick(ANY, &mut rng, |i| load[i] < maxconn), None);
    lb.set_weight(0, 0);
    load = [0; 3];
    assert_eq!(lb.pick(ANY, &mut rng, |i| load[i] < maxconn), Some(1));
}

// --- source, map-based ---

#[test]
fn source_is_sticky_per_address() {
    for policy in all_algorithms()
        .into_iter()
        .filter(|p| p.balance == Balance::Source)
    {
        let mut lb = lb_with(policy, &[1, 1, 1, 1, 1]);
        let mut rng = Rng::new(1);
        for n in 0..200 {
            let a = lb.pick(client(n), &mut rng, |_| true);
            for _ in 0..3 {
                assert_eq!(lb.pick(client(n), &mut rng, |_| true), a, "{policy:?}");
            }
        }
    }
}

/// Which server each of `n` clients gets.
fn placement(lb: &mut Lb, n: u32) -> Vec<usize> {
    let mut rng = Rng::new(1);
    (0..n)
        .map(|c| lb.pick(client(c), &mut rng, |_| true).unwrap())
        .collect()
}

#[test]
fn source_map_based_spreads_by_weight() {
    let mut lb = lb_of(Balance::Source, &[1, 2, 1]);
    let c = counts(&placement(&mut lb, 20_000), 3);
    for (got, want) in c.iter().zip([5_000, 10_000, 5_000]) {
        assert!(got.abs_diff(want) < 500, "{c:?}");
    }
    // Static: a weight change other than to 0 keeps every client.
    let before = placement(&mut lb, 1000);
    lb.set_weight(1, 1);
    assert_eq!(placement(&mut lb, 1000), before);
}

#[test]
fn source_map_based_refused_server_falls_back_deterministically() {
    let mut lb = lb_of(Balance::Source, &[1, 1, 1, 1]);
    let mut rng = Rng::new(1);
    for n in 0..100 {
        let home = lb.pick(client(n), &mut rng, |_| true).unwrap();
        let other = lb.pick(client(n), &mut rng, |i| i != home).unwrap();
        assert_ne!(other, home);
        assert_eq!(lb.pick(client(n), &mut rng, |i| i != home), Some(other));
    }
}

// --- source, consistent ---

#[test]
fn consistent_hashing_moves_only_the_removed_servers_clients() {
    let consistent = Policy {
        hash_type: HashType::Consistent,
        ..policy(Balance::Source)
    };
    let mut lb = lb_with(consistent, &[1; 10]);
    let before = placement(&mut lb, 10_000);
    let share = counts(&before, 10);
    assert!(share.iter().all(|&c| (400..2000).contains(&c)), "{share:?}");
    lb.set_weight(3, 0);
    let after = placement(&mut lb, 10_000);
    for (b, a) in before.iter().zip(&after) {
        if *b == 3 {
            assert_ne!(*a, 3);
        } else {
            assert_eq!(a, b, "a client of a remaining server moved");
        }
    }
    // Back again: everyone goes home.
    lb.set_weight(3, 1);
    assert_eq!(placement(&mut lb, 10_000), before);
}

#[test]
fn consistent_hashing_follows_dynamic_weights() {
    let consistent = Policy {
        hash_type: HashType::Consistent,
        ..policy(Balance::Source)
    };
    let mut lb = lb_with(consistent, &[1, 1]);
    lb.set_weight(1, 4);
    let c = counts(&placement(&mut lb, 10_000), 2);
    // About 1:4 (a ring with 80 points is not exact).
    assert!((1_000..3_000).contains(&c[0]), "{c:?}");
}

#[test]
fn hash_balance_factor_caps_load() {
    let bounded = Policy {
        hash_type: HashType::Consistent,
        balance_factor: Some(125),
        ..policy(Balance::Source)
    };
    let mut lb = lb_with(bounded, &[1; 4]);
    let mut rng = Rng::new(1);
    let mut load = [0u32; 4];
    // Every session from the same client: unbounded, all on one server;
    // bounded, each server up to its cap, then the next on the ring.
    for total in 1..=400u32 {
        let i = lb.pick(ANY, &mut rng, |_| true).unwrap();
        load[i] += 1;
        lb.set_load(i, load[i]);
        let cap = (u64::from(total) * 125).div_ceil(4 * 100) as u32;
        assert!(load.iter().all(|&l| l <= cap.max(1)), "{load:?} at {total}");
    }
    assert_eq!(load.iter().filter(|&&l| l == 125).count(), 3, "{load:?}");
}

// --- random ---

#[test]
fn random_spreads_by_weight() {
    let mut lb = lb_of(Balance::Random { draws: 1 }, &[1, 3]);
    let c = counts(&picks(&mut lb, 20_000), 2);
    assert!((4_000..6_000).contains(&c[0]), "{c:?}");
}

#[test]
fn random_draws_prefer_the_less_loaded() {
    let mut lb = lb_of(Balance::Random { draws: 2 }, &[1; 4]);
    lb.set_load(0, 100);
    let c = counts(&draws(&mut lb, 10_000), 4);
    // Server 0 only wins when both draws land on it: about 1/16.
    assert!(c[0] < 1_000, "{c:?}");
    let mut lb = lb_of(Balance::Random { draws: 10 }, &[1; 4]);
    lb.set_load(0, 100);
    let c = counts(&draws(&mut lb, 10_000), 4);
    assert!(c[0] < 50, "{c:?}");
}

#[test]
fn random_with_balance_factor_stays_level() {
    let bounded = Policy {
        balance_factor: Some(150),
        ..policy(Balance::Random { draws: 1 })
    };
    let mut lb = lb_with(bounded, &[1; 5]);
    let mut rng = Rng::new(3);
    let mut load = [0u32; 5];
    for _ in 0..500 {
        let i = lb.pick(ANY, &mut rng, |_| true).unwrap();
        load[i] += 1;
        lb.set_load(i, load[i]);
    }
    assert!(load.iter().all(|&l| l <= 150), "{load:?}");
}

#[test]
fn random_is_deterministic_for_a_seed() {
    let run = || {
        let mut lb = lb_of(Balance::Random { draws: 2 }, &[1, 2, 3]);
        let mut rng = Rng::new(99);
        (0..50)
            .map(|_| lb.pick(ANY, &mut rng, |_| true).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

// --- shared behaviour ---

#[test]
fn zero_weight_is_never_picked_by_any_algorithm() {
    for policy in all_algorithms() {
        let mut lb = lb_with(policy, &[1, 0, 2]);
        let mut rng = Rng::new(5);
        for n in 0..500 {
            let i = lb.pick(client(n), &mut rng, |_| true);
            assert!(matches!(i, Some(0 | 2)), "{policy:?} picked {i:?}");
        }
        lb.set_weight(0, 0);
        lb.set_weight(2, 0);
        assert_eq!(lb.pick(ANY, &mut rng, |_| true), None, "{policy:?}");
    }
}

#[test]
fn allowed_filters_every_algorithm() {
    for policy in all_algorithms() {
        let mut lb = lb_with(policy, &[1, 1, 1, 1]);
        let mut rng = Rng::new(5);
        for n in 0..300 {
            let i = lb.pick(client(n), &mut rng, |i| i % 2 == 1);
            assert!(matches!(i, Some(1 | 3)), "{policy:?} picked {i:?}");
        }
        assert_eq!(lb.pick(ANY, &mut rng, |_| false), None, "{policy:?}");
        // Refusals leave no trace: everything is picked again.
        let seen = (0..300)
            .filter_map(|n| {
                let i = lb.pick(client(n), &mut rng, |_| true)?;
                brief_session(&mut lb, i);
                Some(i)
            })
            .fold(HashMap::new(), |mut m, i| {
                *m.entry(i).or_insert(0) += 1;
                m
            });
        if policy.balance != Balance::First {
            assert_eq!(seen.len(), 4, "{policy:?} {seen:?}");
        }
    }
}

#[test]
fn no_servers_or_none_eligible_picks_nothing() {
    let mut rng = Rng::new(1);
    for policy in all_algorithms() {
        let mut empty = Lb::new(policy, &[]);
        assert_eq!(empty.pick(ANY, &mut rng, |_| true), None);
        empty.set_weight(0, 1);
        empty.set_load(5, 1);
        assert_eq!(empty.pick(ANY, &mut rng, |_| true), None);
        let members = [Member {
            weight: 1,
            backup: false,
        }; 3];
        let mut fresh = Lb::new(policy, &members);
        // Servers start ineligible.
        assert_eq!(fresh.pick(ANY, &mut rng, |_| true), None, "{policy:?}");
        fresh.set_weight(7, 1);
        fresh.set_weight(1, 1000);
        assert_eq!(fresh.pick(ANY, &mut rng, |_| true), Some(1), "{policy:?}");
    }
}

#[test]
fn backups_are_a_separate_group() {
    for mut policy in all_algorithms() {
        for allbackups in [false, true] {
            policy.allbackups = allbackups;
            let members: Vec<Member> = [false, true, false, true, true]
                .into_iter()
                .map(|backup| Member { weight: 1, backup })
                .collect();
            let mut lb = Lb::new(policy, &members);
            for i in 0..5 {
                lb.set_weight(i, 1);
            }
            let mut rng = Rng::new(2);
            for n in 0..100 {
                let i = lb.pick(client(n), &mut rng, |_| true);
                assert!(matches!(i, Some(0 | 2)), "{policy:?}");
            }
            lb.set_weight(0, 0);
            lb.set_weight(2, 0);
            let got: Vec<usize> = (0..100)
                .map(|n| {
                    let i = lb.pick(client(n), &mut rng, |_| true).unwrap();
                    brief_session(&mut lb, i);
                    i
                })
                .collect();
            assert!(got.iter().all(|&i| [1, 3, 4].contains(&i)));
            if !allbackups {
                // Only the first usable backup, while it can take it.
                assert!(got.iter().all(|&i| i == 1), "{policy:?}");
                assert_eq!(lb.pick(ANY, &mut rng, |i| i != 1), Some(3));
            } else if policy.balance != Balance::First {
                assert!(got.contains(&3) || got.contains(&4), "{policy:?}");
            }
        }
    }
}

#[test]
fn many_servers_and_extreme_weights_do_not_panic() {
    for policy in all_algorithms() {
        // Weights change before every pick: tables are rebuilt each time.
        let mut weights: Vec<u32> = (0..100).map(|i| (i * 37) % 258).collect();
        let mut lb = lb_with(policy, &weights);
        let mut rng = Rng::new(11);
        for n in 0..300u32 {
            let i = lb.pick(client(n), &mut rng, |i| i % 7 != 0);
            assert!(i.is_some_and(|i| weights[i] > 0 && i % 7 != 0));
            let i = n as usize % 100;
            weights[i] = (n * 13) % 300;
            lb.set_weight(i, weights[i]);
            lb.set_load(i, n % 5);
        }
    }
}
