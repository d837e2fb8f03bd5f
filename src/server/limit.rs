//! Limits on wrong voting codes: a bucket per client address and one for the
//! whole server, so that neither one machine nor many can guess codes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many wrong codes are let through before answers slow to a trickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wrong codes one address may send at once.
    pub per_client_burst: u32,
    /// How often one address earns one more try.
    pub per_client_every: Duration,
    /// Wrong codes all addresses together may send at once.
    pub global_burst: u32,
    /// How often all together earn one more try.
    pub global_every: Duration,
    /// Addresses remembered; past it, the oldest quiet ones are forgotten.
    pub max_clients: usize,
}

impl Default for Limits {
    /// 10 wrong codes per address, then one every 6 s (600 an hour); 1,000
    /// for the whole server, then 10 a second.
    fn default() -> Limits {
        Limits {
            per_client_burst: 10,
            per_client_every: Duration::from_secs(6),
            global_burst: 1_000,
            global_every: Duration::from_millis(100),
            max_clients: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, burst: u32, every: Duration, now: Instant) {
        let earned = now.duration_since(self.at).as_secs_f64() / every.as_secs_f64().max(1e-9);
        self.tokens = (self.tokens + earned).min(f64::from(burst));
        self.at = now;
    }
}

/// Wrong-code buckets.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    state: Mutex<(Bucket, HashMap<IpAddr, Bucket>)>,
}

/// Told to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait(pub Duration);

impl Limiter {
    /// A limiter with `limits`.
    pub fn new(limits: Limits) -> Limiter {
        let now = Instant::now();
        Limiter {
            limits,
            state: Mutex::new((Bucket::full(limits.global_burst, now), HashMap::new())),
        }
    }

    /// Whether `client` may try a code now: refused while its bucket or the
    /// server's is empty. Only a wrong code spends a try ([`Limiter::failed`]).
    ///
    /// # Errors
    /// How long to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), Wait> {
        let l = self.limits;
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (global, clients) = &mut *state;
        global.refill(l.global_burst, l.global_every, now);
        if global.tokens < 1.0 {
            return Err(Wait(l.global_every));
        }
        if let Some(b) = clients.get_mut(&client) {
            b.refill(l.per_client_burst, l.per_client_every, now);
            if b.tokens < 1.0 {
                let missing = 1.0 - b.tokens;
                return Err(Wait(l.per_client_every.mul_f64(missing)));
            }
        }
        Ok(())
    }

    /// Spends a try of `client`'s and of the server's for a wrong code.
    pub fn failed(&self, client: IpAddr) {
        let l = self.limits;
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (global, clients) = &mut *state;
        global.refill(l.global_burst, l.global_every, now);
        global.tokens = (global.tokens - 1.0).max(0.0);
        if clients.len() >= l.max_clients && !clients.contains_key(&client) {
            // Forget the addresses whose buckets have refilled.
            clients.retain(|_, b| {
                b.refill(l.per_client_burst, l.per_client_every, now);
                b.tokens < f64::from(l.per_client_burst)
            });
            if clients.len() >= l.max_clients {
                clients.clear();
            }
        }
        let b = clients
            .entry(client)
            .or_insert_with(|| Bucket::full(l.per_client_burst, now));
        b.refill(l.per_client_burst, l.per_client_every, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_stopped_after_its_burst_and_others_are_not() {
        let limiter = Limiter::new(Limits::default());
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        for _ in 0..10 {
            assert!(limiter.check(a).is_ok());
            limiter.failed(a);
        }
        let Err(Wait(wait)) = limiter.check(a) else {
            panic!("an 11th wrong code in a row is let through");
        };
        assert!(wait <= Duration::from_secs(6));
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn many_clients_together_meet_the_global_limit() {
        let limiter = Limiter::new(Limits {
            global_burst: 50,
            global_every: Duration::from_secs(60),
            ..Limits::default()
        });
        for i in 0..50u32 {
            let client: IpAddr = std::net::Ipv4Addr::from(0x0a00_0000 + i).into();
            assert!(limiter.check(client).is_ok());
            limiter.failed(client);
        }
        assert!(limiter.check([10, 9, 9, 9].into()).is_err());
    }
}
