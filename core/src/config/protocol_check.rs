//! The protocol checks HAProxy 2.6 builds as `tcp-check` rulesets
//! (`src/tcpcheck.c`): `option redis-check`, `ssl-hello-chk`,
//! `mysql-check`, `pgsql-check`, `smtpchk` and `ldap-check`. Each option
//! gives the same rules, numbers, texts and statuses as HAProxy's
//! `proxy_parse_*_opt`; the replies' custom parsers are in
//! `crate::health::protocol`.

use super::{Pattern, TcpRule, TcpStep};

/// A protocol check, as its `option` line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolCheck {
    /// `option redis-check`.
    Redis,
    /// `option ssl-hello-chk`.
    SslHello,
    /// `option mysql-check [user <name> [post-41|pre-41]]`: the user and
    /// whether the client authentication packet is the 4.1 one.
    Mysql(Option<(String, bool)>),
    /// `option pgsql-check user <name>`.
    Pgsql(String),
    /// `option smtpchk [HELO|EHLO <domain>]`: the command sent.
    Smtp(String),
    /// `option ldap-check`.
    Ldap,
}

/// A reply parser of a protocol check (`tcp-check expect custom`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomExpect {
    /// `tcpcheck_mysql_expect_iniths`: the server's initial handshake.
    MysqlHandshake,
    /// `tcpcheck_mysql_expect_ok`: the packet after the handshake.
    MysqlOk,
    /// `tcpcheck_ldap_expect_bindrsp`: an LDAPv3 bind response.
    LdapBindResponse,
}

/// A check's text taken from the reply: HAProxy's
/// `%[res.payload(<offset>,0)[,ltrim(' ')][,cut_crlf]]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyText {
    /// Bytes skipped at the start of the reply.
    pub offset: usize,
    /// Leading spaces are dropped (`ltrim(' ')`).
    pub ltrim: bool,
    /// The text ends at the first CR or LF (`cut_crlf`).
    pub cut_crlf: bool,
}

impl ReplyText {
    /// `res.payload(offset,0)`.
    pub const fn from(offset: usize) -> Self {
        ReplyText {
            offset,
            ltrim: false,
            cut_crlf: false,
        }
    }

    /// `res.payload(0,0),cut_crlf`: the first line.
    pub const FIRST_LINE: ReplyText = ReplyText {
        offset: 0,
        ltrim: false,
        cut_crlf: true,
    };

    /// `res.payload(4,0),ltrim(' '),cut_crlf`: an SMTP reply's text.
    pub const SMTP_TEXT: ReplyText = ReplyText {
        offset: 4,
        ltrim: true,
        cut_crlf: true,
    };
}

/// The ClientHello `option ssl-hello-chk` sends, its time field (bytes
/// 11..15) left zero: SSLv3, no session, 39 ciphers, NULL compression.
const SSL_HELLO_HEAD: &[u8] = &[
    0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
];
/// Where the hello's `gmt_unix_time` goes.
pub const SSL_HELLO_TIME_AT: usize = 11;

fn ssl_hello() -> Vec<u8> {
    let mut out = SSL_HELLO_HEAD.to_vec();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    out.extend_from_slice(&[0x00, 0x00, 0x4e]);
    for cipher in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        out.extend_from_slice(&cipher.to_be_bytes());
    }
    out.extend_from_slice(&[0x01, 0x00]);
    out
}

/// A rule of a protocol check.
fn rule(step: TcpStep, id: u32) -> TcpRule {
    let mut rule = TcpRule::new(step, id);
    rule.protocol = true;
    rule
}

fn regex(text: &str, hex: bool, negate: bool) -> TcpStep {
    TcpStep::ExpectRegex {
        // The patterns are HAProxy's and compile.
        regex: Pattern::new(text).unwrap_or_else(|e| unreachable!("{e}")),
        hex,
        negate,
    }
}

impl ProtocolCheck {
    /// HAProxy's ruleset of this check. Rule numbers count the explicit
    /// `connect default linger` of mysql, pgsql and smtp checks, as
    /// HAProxy's step numbers do.
    pub fn rules(&self) -> Vec<TcpRule> {
        match self {
            ProtocolCheck::Redis => TcpRule::redis(),
            ProtocolCheck::SslHello => {
                let mut send = rule(TcpStep::Send(ssl_hello()), 1);
                send.date_at = Some(SSL_HELLO_TIME_AT);
                let mut expect = rule(regex("^1[56]", true, false), 2);
                expect.min_recv = Some(5);
                expect.layer6 = true;
                vec![send, expect]
            }
            ProtocolCheck::Mysql(user) => {
                let mut rules = Vec::new();
                let mut id = 2;
                if let Some((user, post41)) = user {
                    rules.push(rule(TcpStep::Send(mysql_auth(user, *post41)), id));
                    id += 1;
                }
                rules.push(rule(TcpStep::Custom(CustomExpect::MysqlHandshake), id));
                if user.is_some() {
                    rules.push(rule(TcpStep::Custom(CustomExpect::MysqlOk), id + 1));
                }
                rules[0].linger = true;
                rules
            }
            ProtocolCheck::Pgsql(user) => {
                let mut packet = Vec::with_capacity(15 + user.len());
                packet.extend_from_slice(&(15 + user.len() as u32).to_be_bytes());
                packet.extend_from_slice(b"\x00\x03\x00\x00user\x00");
                packet.extend_from_slice(user.as_bytes());
                packet.extend_from_slice(b"\x00\x00");
                let mut send = rule(TcpStep::Send(packet), 2);
                send.linger = true;
                let mut error = rule(regex("^E", false, true), 3);
                error.min_recv = Some(5);
                error.error_text = Some(ReplyText::from(6));
                let mut ok = rule(
                    regex(
                        "^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)",
                        true,
                        false,
                    ),
                    4,
                );
                ok.min_recv = Some(9);
                ok.wrong_status = true;
                ok.on_success = Some("PostgreSQL server is ok".into());
                ok.on_error = Some("PostgreSQL unknown error".into());
                vec![send, error, ok]
            }
            ProtocolCheck::Smtp(command) => {
                // HAProxy 2.6.12's ruleset (with the EHLO and QUIT fixes
                // backported after 2.6.0).
                let reply = |pattern: &str, id: u32| {
                    let mut rule = rule(regex(pattern, false, false), id);
                    rule.wrong_status = true;
                    rule.error_text = Some(ReplyText::SMTP_TEXT);
                    rule.code_from_reply = true;
                    rule
                };
                let mut banner = rule(regex("^[0-9]{3}[ \r]", false, false), 2);
                banner.min_recv = Some(4);
                banner.error_text = Some(ReplyText::FIRST_LINE);
                banner.linger = true;
                let mut ready = reply("^2[0-9]{2}[ \r]", 3);
                ready.min_recv = Some(4);
                let hello = rule(TcpStep::Send(format!("{command}\r\n").into_bytes()), 4);
                let mut greeted = reply("(?-u)^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]", 5);
                greeted.success_text = Some(ReplyText::SMTP_TEXT);
                let quit = rule(TcpStep::Send(b"QUIT\r\n".to_vec()), 6);
                let mut bye = reply("^2[0-9]{2}[- \r]", 7);
                bye.min_recv = Some(4);
                bye.success_text = Some(ReplyText::SMTP_TEXT);
                vec![banner, ready, hello, greeted, quit, bye]
            }
            ProtocolCheck::Ldap => {
                let send = rule(
                    TcpStep::Send(
                        b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00".to_vec(),
                    ),
                    1,
                );
                let mut ldap = rule(regex("^30", true, false), 2);
                ldap.min_recv = Some(14);
                ldap.on_error = Some("Not LDAPv3 protocol".into());
                let bind = rule(TcpStep::Custom(CustomExpect::LdapBindResponse), 3);
                vec![send, ldap, bind]
            }
        }
    }
}

/// The client authentication packet of `option mysql-check user <name>`
/// (4.1 or older), followed by a `COM_QUIT`.
fn mysql_auth(user: &str, post41: bool) -> Vec<u8> {
    let len = user.len() + if post41 { 34 } else { 7 };
    let mut out = Vec::with_capacity(len + 9);
    out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, 1]);
    if post41 {
        out.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
        out.extend_from_slice(&[0; 23]);
    } else {
        out.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
    }
    out.extend_from_slice(user.as_bytes());
    out.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sends(check: ProtocolCheck) -> Vec<Vec<u8>> {
        check
            .rules()
            .into_iter()
            .filter_map(|r| match r.step {
                TcpStep::Send(data) => Some(data),
                _ => None,
            })
            .collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        let text: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        text.chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    #[test]
    fn mysql_packets_are_haproxys() {
        // reg-tests/checks/mysql-check.vtc filters on exactly these bytes.
        let pre41 = ProtocolCheck::Mysql(Some(("user".into(), false)));
        assert_eq!(
            sends(pre41),
            [unhex("0B00000100800000017573657200000100000001")]
        );
        let post41 = ProtocolCheck::Mysql(Some(("user".into(), true)));
        assert_eq!(
            sends(post41),
            [unhex(
                "2600000100820000008000012100000000000000000000000000000000000000000000007573657200000100000001"
            )]
        );
        let anonymous = ProtocolCheck::Mysql(None).rules();
        assert_eq!(anonymous.len(), 1);
        assert_eq!(anonymous[0].id, 2, "the connect rule is step 1");
        assert!(anonymous[0].linger);
    }

    #[test]
    fn pgsql_ldap_and_smtp_requests_are_haproxys() {
        assert_eq!(
            sends(ProtocolCheck::Pgsql("postgres".into())),
            [unhex("00000017000300007573657200706f7374677265730000")]
        );
        assert_eq!(
            sends(ProtocolCheck::Ldap),
            [unhex("300C020101600702010304008000")]
        );
        assert_eq!(
            sends(ProtocolCheck::Smtp("HELO localhost".into())),
            [b"HELO localhost\r\n".to_vec(), b"QUIT\r\n".to_vec()]
        );
    }

    #[test]
    fn the_ssl_hello_is_haproxys_sslv3_client_hello() {
        let rules = ProtocolCheck::SslHello.rules();
        let TcpStep::Send(hello) = &rules[0].step else {
            panic!("not a send");
        };
        let mut expected = unhex("160300007901000075030000000000");
        expected.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
        expected.extend(unhex(
            "00004E0001000200030004000500060007000800090\
             00A000B000C000D000E000F00100011001200130014001500160017001800190\
             01A001B002F0030003100320033003400350036003700380039003A0100",
        ));
        assert_eq!(*hello, expected);
        assert_eq!(hello.len(), 5 + 0x79);
        assert_eq!(rules[0].date_at, Some(SSL_HELLO_TIME_AT));
    }
}
