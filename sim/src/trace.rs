//! A readable record of a run: one line per event, with the simulated
//! time, who acted and what happened. Kept only when asked for, so the
//! campaign pays nothing for it.

use std::fmt;
use std::time::Duration;

/// The lines of a run, when tracing.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Option<Vec<String>>,
}

impl Trace {
    /// A trace that keeps lines when `on`.
    pub fn new(on: bool) -> Self {
        Trace {
            lines: on.then(Vec::new),
        }
    }

    /// Whether lines are kept.
    pub fn on(&self) -> bool {
        self.lines.is_some()
    }

    /// Adds a line.
    pub fn push(&mut self, at: Duration, who: impl fmt::Display, what: fmt::Arguments<'_>) {
        if let Some(lines) = &mut self.lines {
            let who = who.to_string();
            lines.push(format!("{:>12.6}s  {who:<14} {what}", at.as_secs_f64()));
        }
    }

    /// The lines kept.
    pub fn into_lines(self) -> Vec<String> {
        self.lines.unwrap_or_default()
    }
}

/// Adds a line to `$world`'s trace, formatting nothing when it is off.
macro_rules! trace {
    ($world:expr, $who:expr, $($arg:tt)*) => {
        if $world.trace.on() {
            let who = $who;
            let at = $world.now;
            $world.trace.push(at, who, format_args!($($arg)*));
        }
    };
}

pub(crate) use trace;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_only_when_on() {
        let mut off = Trace::new(false);
        off.push(Duration::ZERO, "x", format_args!("y"));
        assert!(off.into_lines().is_empty());
        let mut on = Trace::new(true);
        on.push(
            Duration::from_millis(1500),
            "client 3",
            format_args!("sends {}", 10),
        );
        assert_eq!(on.into_lines(), ["    1.500000s  client 3       sends 10"]);
    }
}
