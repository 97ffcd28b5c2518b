//! The configurations reloads apply: a [`Layout`] says which world
//! server is in the file under which name and port, with which settings,
//! and renders the run's configuration text with it.

use std::fmt::Write;

/// One world server as a configuration lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the file.
    pub name: String,
    /// Its traffic port.
    pub port: u16,
    /// `weight`, when a reload set it.
    pub weight: Option<u32>,
    /// `maxconn`, when a reload set it.
    pub maxconn: Option<u32>,
    /// `inter` (ms), `rise` and `fall`, when a reload set them.
    pub check: Option<(u64, u32, u32)>,
}

impl Entry {
    /// A server listed as the run's first configuration lists it.
    pub fn listed(name: &str, port: u16) -> Entry {
        Entry {
            name: name.to_owned(),
            port,
            weight: None,
            maxconn: None,
            check: None,
        }
    }
}

/// A configuration of the run: the first one with servers in or out,
/// renamed, re-addressed or retuned, and other settings changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// By world server: its entry, or `None` when the file leaves it out.
    pub servers: Vec<Option<Entry>>,
    /// `balance`, when a reload changed it.
    pub balance: Option<&'static str>,
    /// `timeout connect`, `client` and `server` (ms), when a reload
    /// changed them.
    pub timeouts: Option<[u64; 3]>,
}

impl Layout {
    /// The text of this configuration, from the run's first one
    /// (`original`, listing servers `names` in order; the servers past
    /// them take the first server's line as their template).
    pub fn render(&self, original: &str, names: &[String], hosts: &[String]) -> String {
        let mut out = String::new();
        let mut template = None;
        for line in original.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["server", name, ..] => {
                    template.get_or_insert_with(|| words.clone());
                    if let Some(s) = names.iter().position(|n| n == name) {
                        self.server_line(&mut out, s, &words, hosts);
                    }
                    if let Some(template) = template
                        .as_ref()
                        .filter(|_| names.last() == Some(&name.to_string()))
                    {
                        for s in names.len()..self.servers.len() {
                            self.server_line(&mut out, s, template, hosts);
                        }
                    }
                }
                ["balance", ..] if self.balance.is_some() => {
                    let _ = writeln!(out, "    balance {}", self.balance.unwrap_or_default());
                }
                ["hash-type" | "hash-balance-factor", ..] if self.balance.is_some() => {}
                ["timeout", which @ ("connect" | "client" | "server"), _] => {
                    let i = ["connect", "client", "server"]
                        .iter()
                        .position(|w| w == which)
                        .unwrap_or_default();
                    match self.timeouts {
                        Some(t) => {
                            let _ = writeln!(out, "    timeout {which} {}ms", t[i]);
                        }
                        None => out.push_str(&format!("{line}\n")),
                    }
                }
                _ => out.push_str(&format!("{line}\n")),
            }
        }
        out
    }

    /// Server `s`'s line from `words` (a line of the first
    /// configuration), if it is in this one.
    fn server_line(&self, out: &mut String, s: usize, words: &[&str], hosts: &[String]) {
        let Some(Some(entry)) = self.servers.get(s) else {
            return;
        };
        let mut words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        words[1] = entry.name.clone();
        words[2] = format!("{}:{}", hosts[s], entry.port);
        if let Some(w) = entry.weight {
            set(&mut words, "weight", w.to_string());
        }
        if let Some(m) = entry.maxconn {
            set(&mut words, "maxconn", m.to_string());
            // `minconn` above the new `maxconn` would be an error.
            if let Some(i) = words.iter().position(|w| w == "minconn") {
                words.drain(i..(i + 2).min(words.len()));
            }
        }
        if let Some((inter, rise, fall)) = entry.check {
            set(&mut words, "inter", format!("{inter}ms"));
            set(&mut words, "rise", rise.to_string());
            set(&mut words, "fall", fall.to_string());
        }
        let _ = writeln!(out, "    {}", words.join(" "));
    }
}

/// `key value` in a server line's words: replaced, or added at the end.
fn set(words: &mut Vec<String>, key: &str, value: String) {
    match words.iter().position(|w| w == key) {
        Some(i) if i + 1 < words.len() => words[i + 1] = value,
        _ => words.extend([key.to_owned(), value]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &str = "defaults\n    timeout connect 1s\n    timeout client 5s\n\
        backend app\n    balance source\n    hash-type consistent\n\
        \x20   server gw1 gw1.sim:443 weight 3 check inter 500ms rise 2 fall 3\n\
        \x20   server gw2 gw2.sim:443 backup maxconn 4 minconn 2\n";

    fn names() -> (Vec<String>, Vec<String>) {
        let names = vec!["gw1".to_owned(), "gw2".to_owned()];
        let hosts = ["gw1.sim", "gw2.sim", "gw3.sim"]
            .map(str::to_owned)
            .to_vec();
        (names, hosts)
    }

    #[test]
    fn the_first_layout_renders_the_first_configuration() {
        let (names, hosts) = names();
        let layout = Layout {
            servers: vec![
                Some(Entry::listed("gw1", 443)),
                Some(Entry::listed("gw2", 443)),
                None,
            ],
            ..Layout::default()
        };
        assert_eq!(layout.render(ORIGINAL, &names, &hosts), ORIGINAL);
    }

    #[test]
    fn servers_are_renamed_readdressed_retuned_added_and_settings_change() {
        let (names, hosts) = names();
        let layout = Layout {
            servers: vec![
                Some(Entry {
                    weight: Some(7),
                    check: Some((900, 1, 4)),
                    ..Entry::listed("gw1-r1", 1001)
                }),
                Some(Entry {
                    maxconn: Some(1),
                    ..Entry::listed("gw2", 443)
                }),
                Some(Entry::listed("gw3", 443)),
            ],
            balance: Some("leastconn"),
            timeouts: Some([300, 4000, 6000]),
        };
        let text = layout.render(ORIGINAL, &names, &hosts);
        assert_eq!(
            text,
            "defaults\n    timeout connect 300ms\n    timeout client 4000ms\n\
             backend app\n    balance leastconn\n\
             \x20   server gw1-r1 gw1.sim:1001 weight 7 check inter 900ms rise 1 fall 4\n\
             \x20   server gw2 gw2.sim:443 backup maxconn 1\n\
             \x20   server gw3 gw3.sim:443 weight 3 check inter 500ms rise 2 fall 3\n"
        );
    }
}
