//! The reply parsers of HAProxy 2.6's protocol checks
//! (`tcpcheck_mysql_expect_iniths`, `tcpcheck_mysql_expect_ok`,
//! `tcpcheck_ldap_expect_bindrsp`) and the texts and codes its protocol
//! rules take from a reply (`res.payload`, `ltrim`, `cut_crlf`).
//!
//! Where HAProxy reads past the bytes received (a length field that
//! promises more than the message holds), these parsers treat the reply
//! as too short: they wait for more, or fail as a truncated reply.

use crate::config::{CustomExpect, ReplyText};

/// The longest text HAProxy keeps of a check (`HCHK_DESC_LEN - 1`).
const DESC_MAX: usize = 127;

/// What a custom expect makes of the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Custom {
    /// More bytes are needed.
    Wait,
    /// The rule passed; the check's text when it is the last rule.
    Pass(Option<String>),
    /// `L7RSP`: not the protocol, or truncated; the text.
    Invalid(String),
    /// `L7STS`: the server answered with an error; its code and text.
    WrongStatus(u16, String),
}

/// Judges custom expect `kind` on `data`; `last_read`: no more bytes
/// will come; `last_rule`: the rule ends the check.
pub(crate) fn judge(kind: CustomExpect, data: &[u8], last_read: bool, last_rule: bool) -> Custom {
    match kind {
        CustomExpect::MysqlHandshake => mysql_packet(data, 0, last_read, last_rule),
        CustomExpect::MysqlOk => {
            let Some(head) = data.get(..3) else {
                return too_short(last_read);
            };
            let offset = 4
                + usize::from(head[0])
                + (usize::from(head[1]) << 8)
                + (usize::from(head[2]) << 16);
            mysql_packet(data, offset, last_read, last_rule)
        }
        CustomExpect::LdapBindResponse => ldap_bind_response(data, last_read),
    }
}

fn too_short(last_read: bool) -> Custom {
    match last_read {
        false => Custom::Wait,
        true => Custom::Invalid(String::new()),
    }
}

/// `tcpcheck_mysql_expect_packet`: the MySQL packet at `offset` is
/// whole and not an error packet. The text of a success is the server
/// version of the initial handshake.
fn mysql_packet(data: &[u8], offset: usize, last_read: bool, last_rule: bool) -> Custom {
    let Some(head) = data.get(offset..offset + 4) else {
        return too_short(last_read);
    };
    let len = usize::from(head[0]) + (usize::from(head[1]) << 8) + (usize::from(head[2]) << 16);
    if data.len() < offset + len + 4 {
        return too_short(last_read);
    }
    if data.get(offset + 4) == Some(&0xff) {
        let code = data
            .get(offset + 5..offset + 7)
            .map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
        let message = data.get(offset + 7..).unwrap_or_default();
        return Custom::WrongStatus(code, c_text(message));
    }
    if !last_rule {
        return Custom::Pass(None);
    }
    Custom::Pass(Some(c_text(data.get(5..).unwrap_or_default())))
}

/// `tcpcheck_ldap_expect_bindrsp`: an LDAPv3 bind response (message id 1)
/// with result code 0.
fn ldap_bind_response(data: &[u8], last_read: bool) -> Custom {
    const NOT_LDAP: &str = "Not LDAPv3 protocol";
    let invalid = || Custom::Invalid(NOT_LDAP.into());
    let Some(&size) = data.get(1) else {
        return too_short(last_read);
    };
    let mut nbytes = 0;
    let len = if size & 0x80 != 0 {
        nbytes = usize::from(size & 0x7f);
        if data.len() < 1 + nbytes {
            return too_short(last_read);
        }
        let Some(field) = data.get(2..2 + nbytes) else {
            return too_short(last_read);
        };
        match nbytes {
            4 => u32::from_be_bytes([field[0], field[1], field[2], field[3]]) as usize,
            2 => usize::from(u16::from_be_bytes([field[0], field[1]])),
            _ => return invalid(),
        }
    } else {
        usize::from(size)
    };
    if data.len() < (2 + nbytes).saturating_add(len) {
        return too_short(last_read);
    }
    let mut at = 2 + nbytes;
    let Some(op) = data.get(at..at + 4) else {
        return too_short(last_read);
    };
    if op != b"\x02\x01\x01\x61" {
        return invalid();
    }
    at += 4;
    let Some(&size) = data.get(at) else {
        return too_short(last_read);
    };
    at += 1 + if size & 0x80 != 0 {
        usize::from(size & 0x7f)
    } else {
        0
    };
    let Some(result) = data.get(at..at + 3) else {
        return too_short(last_read);
    };
    if result[..2] != *b"\x0a\x01" {
        return invalid();
    }
    match result[2] {
        0 => Custom::Pass(Some("Success".into())),
        code => Custom::WrongStatus(
            u16::from(code),
            "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into(),
        ),
    }
}

/// The text HAProxy keeps of reply bytes: up to the first NUL, at most
/// 127 bytes (`strncpy` into `check->desc`).
fn c_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end.min(DESC_MAX)]).into_owned()
}

/// HAProxy's `%[res.payload(offset,0)...]` of `text` on `data`: `None`
/// when the sample is empty or missing (HAProxy then writes nothing).
pub(crate) fn reply_text(text: ReplyText, data: &[u8]) -> String {
    let mut bytes = data.get(text.offset..).unwrap_or_default();
    if text.ltrim {
        let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
        bytes = &bytes[start..];
    }
    if text.cut_crlf {
        let end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        bytes = &bytes[..end];
    }
    c_text(bytes)
}

/// HAProxy's `status-code "res.payload(0,3)"`: the number the first
/// three bytes start with (`read_int64`), 0 without three bytes. A
/// negative number is kept as 0.
pub(crate) fn reply_code(data: &[u8]) -> u16 {
    let Some(head) = data.get(..3) else {
        return 0;
    };
    let digits = match head[0] {
        b'+' => &head[1..],
        b'-' => return 0,
        _ => head,
    };
    digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        let text: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        text.chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// The MySQL 8.0.19 initial handshake of reg-tests/checks/mysql-check.vtc.
    const HANDSHAKE: &str = "4A0000000A382E302E3139000A0000006F3C025E6249410D00FFFFFF0200FFC715000000000000000000007C182159106E2761144322200063616368696E675F736861325F70617373776F726400";

    #[test]
    fn mysql_handshake_gives_the_server_version() {
        let hs = unhex(HANDSHAKE);
        let judge_hs = |data: &[u8], last| judge(CustomExpect::MysqlHandshake, data, last, true);
        assert_eq!(judge_hs(&hs[..3], false), Custom::Wait);
        assert_eq!(judge_hs(&hs[..40], false), Custom::Wait);
        assert_eq!(judge_hs(&hs[..40], true), Custom::Invalid(String::new()));
        assert_eq!(judge_hs(&hs, false), Custom::Pass(Some("8.0.19".into())));
        // Not the last rule: no text yet.
        assert_eq!(
            judge(CustomExpect::MysqlHandshake, &hs, false, false),
            Custom::Pass(None)
        );
    }

    #[test]
    fn mysql_ok_and_error_packets_after_the_handshake() {
        let mut ok = unhex(HANDSHAKE);
        ok.extend(unhex("0700000200000002000000"));
        assert_eq!(
            judge(CustomExpect::MysqlOk, &ok, false, true),
            Custom::Pass(Some("8.0.19".into()))
        );
        let mut error = unhex(HANDSHAKE);
        let message = "Client does not support authentication protocol";
        error.extend([(message.len() + 3) as u8, 0, 0, 2, 0xff, 0xe3, 0x04]);
        error.extend_from_slice(message.as_bytes());
        assert_eq!(
            judge(CustomExpect::MysqlOk, &error, false, true),
            Custom::WrongStatus(1251, message.into())
        );
        let hs = unhex(HANDSHAKE);
        assert_eq!(judge(CustomExpect::MysqlOk, &hs, false, true), Custom::Wait);
        assert_eq!(
            judge(CustomExpect::MysqlOk, &hs, true, true),
            Custom::Invalid(String::new())
        );
    }

    #[test]
    fn ldap_bind_responses_as_reg_tests_send_them() {
        let ldap = |hex: &str, last| judge(CustomExpect::LdapBindResponse, &unhex(hex), last, true);
        assert_eq!(
            ldap("300C020101 61 070A01 00 04000400", false),
            Custom::Pass(Some("Success".into()))
        );
        assert_eq!(
            ldap("300C020101 60 070A01 00 04000400", false),
            Custom::Invalid("Not LDAPv3 protocol".into())
        );
        assert_eq!(
            ldap("300C020101 61 070A01 01 04000400", false),
            Custom::WrongStatus(
                1,
                "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into()
            )
        );
        // Long-form lengths, in two segments.
        assert_eq!(
            ldap("308400000010020101 61 84000000070A01", false),
            Custom::Wait
        );
        assert_eq!(
            ldap("308400000010020101 61 84000000070A01 00 04000400", false),
            Custom::Pass(Some("Success".into()))
        );
        assert_eq!(
            ldap("3083000000", false),
            Custom::Invalid("Not LDAPv3 protocol".into())
        );
        assert_eq!(ldap("30", true), Custom::Invalid(String::new()));
    }

    #[test]
    fn texts_and_codes_from_replies() {
        assert_eq!(
            reply_text(ReplyText::FIRST_LINE, b"-ERR x\r\nmore"),
            "-ERR x"
        );
        assert_eq!(
            reply_text(ReplyText::SMTP_TEXT, b"250   mail ok\r\n"),
            "mail ok"
        );
        assert_eq!(reply_text(ReplyText::SMTP_TEXT, b"248\r\n"), "");
        assert_eq!(
            reply_text(ReplyText::from(6), b"E\0\0\0\x0bSFATAL\0C"),
            "FATAL"
        );
        assert_eq!(reply_text(ReplyText::from(6), b"E"), "");
        assert_eq!(reply_text(ReplyText::from(0), &[b'a'; 300]).len(), 127);
        assert_eq!(reply_code(b"221 bye"), 221);
        assert_eq!(reply_code(b"2x1"), 2);
        assert_eq!(reply_code(b"xyz"), 0);
        assert_eq!(reply_code(b"25"), 0);
    }
}
