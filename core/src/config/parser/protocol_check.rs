//! `option redis-check`, `ssl-hello-chk`, `mysql-check`, `pgsql-check`,
//! `smtpchk` and `ldap-check`: their arguments and HAProxy 2.6's messages
//! (`proxy_parse_*_opt` in `src/tcpcheck.c`). Each replaces the checks
//! the section had (or inherited).

use super::super::ProtocolCheck;
use super::{Diags, ProxyParts, Stmt};

/// The `option` names of the protocol checks.
pub(super) const NAMES: &[&str] = &[
    "redis-check",
    "ssl-hello-chk",
    "mysql-check",
    "pgsql-check",
    "smtpchk",
    "ldap-check",
];

/// `option <name> ...` of a protocol check.
pub(super) fn option(diags: &mut Diags, p: &mut ProxyParts<'_>, st: &Stmt<'_>) {
    let name = st.word(1);
    if !p.kind.has_backend() {
        // HAProxy names the option alone here.
        p.ignored(diags, st, name, false);
    }
    match parse(st) {
        Ok(check) if p.kind.has_backend() => {
            p.settings.protocol_check = Some(check);
            p.settings.tcp_check = false;
            p.settings.http.enabled = false;
        }
        Ok(_) => {}
        Err(e) => diags.error(&st.origin, e),
    }
}

/// The check an `option` line asks for.
fn parse(st: &Stmt<'_>) -> Result<ProtocolCheck, String> {
    let name = st.word(1);
    let max_args = match name {
        "smtpchk" | "pgsql-check" => 2,
        "mysql-check" => 3,
        _ => 0,
    };
    if let Some(extra) = st.words.get(2 + max_args) {
        return Err(format!(
            "'option {name}' cannot handle unexpected argument '{extra}'."
        ));
    }
    let (arg, value, version) = (st.word(2), st.word(3), st.word(4));
    Ok(match name {
        "redis-check" => ProtocolCheck::Redis,
        "ssl-hello-chk" => ProtocolCheck::SslHello,
        "ldap-check" => ProtocolCheck::Ldap,
        "smtpchk" => match arg {
            "EHLO" | "HELO" if !value.is_empty() => ProtocolCheck::Smtp(format!("{arg} {value}")),
            _ => ProtocolCheck::Smtp("HELO localhost".into()),
        },
        "pgsql-check" => match (arg, value) {
            ("", _) | (_, "") => {
                return Err(format!(
                    "'option {name}' expects 'user <username>' as argument."
                ));
            }
            ("user", user) => ProtocolCheck::Pgsql(user.into()),
            _ => {
                return Err(format!(
                    "'option {name}' only supports optional values: 'user'."
                ));
            }
        },
        _ => match (arg, value, version) {
            ("", ..) => ProtocolCheck::Mysql(None),
            ("user", "", _) => {
                return Err(format!(
                    "'option {name} user' expects <username> as argument."
                ));
            }
            ("user", user, "" | "post-41") => ProtocolCheck::Mysql(Some((user.into(), true))),
            ("user", user, "pre-41") => ProtocolCheck::Mysql(Some((user.into(), false))),
            ("user", _, other) => {
                return Err(format!(
                    "keyword 'user' only supports 'post-41' and 'pre-41' (got '{other}')."
                ));
            }
            (other, ..) => {
                return Err(format!(
                    "'option {name}' only supports optional values: 'user' (got '{other}')."
                ));
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::{HealthCheck, TcpRule};
    use crate::config::{Source, parse};

    fn config(lines: &str) -> Result<HealthCheck, Vec<String>> {
        let text = format!(
            "defaults\n option mysql-check\nfrontend f\n bind :80\n default_backend b\n\
             backend b\n{lines}\n server s 127.0.0.1:1 check\n"
        );
        parse(&[Source::new("t.cfg", text.as_bytes())], &mut |_| None)
            .map(|p| p.config.backends[0].health_check.clone())
            .map_err(|e| e.iter().map(ToString::to_string).collect())
    }

    fn rules(check: super::ProtocolCheck) -> HealthCheck {
        HealthCheck::TcpRules(check.rules())
    }

    #[test]
    fn options_build_haproxys_rulesets_and_replace_each_other() {
        use super::ProtocolCheck::*;
        assert_eq!(config(""), Ok(rules(Mysql(None))), "inherited");
        assert_eq!(
            config(" option redis-check"),
            Ok(HealthCheck::TcpRules(TcpRule::redis()))
        );
        assert_eq!(
            config(" option mysql-check user u pre-41"),
            Ok(rules(Mysql(Some(("u".into(), false)))))
        );
        assert_eq!(
            config(" option mysql-check user u"),
            Ok(rules(Mysql(Some(("u".into(), true)))))
        );
        assert_eq!(
            config(" option pgsql-check user pg"),
            Ok(rules(Pgsql("pg".into())))
        );
        assert_eq!(
            config(" option smtpchk"),
            Ok(rules(Smtp("HELO localhost".into())))
        );
        assert_eq!(
            config(" option smtpchk EHLO mail.example.com"),
            Ok(rules(Smtp("EHLO mail.example.com".into())))
        );
        assert_eq!(
            config(" option smtpchk FOO bar"),
            Ok(rules(Smtp("HELO localhost".into())))
        );
        assert_eq!(config(" option ldap-check"), Ok(rules(Ldap)));
        assert_eq!(config(" option ssl-hello-chk"), Ok(rules(SslHello)));
        assert!(matches!(
            config(" option ldap-check\n option httpchk"),
            Ok(HealthCheck::Http { .. })
        ));
        assert_eq!(
            config(" option httpchk\n option pgsql-check user pg"),
            Ok(rules(Pgsql("pg".into())))
        );
        assert!(matches!(config(" option tcp-check"), Ok(HealthCheck::Tcp)));
    }

    #[test]
    fn a_frontend_ignores_them_with_haproxys_warning() {
        let text = "frontend f\n bind :80\n option ssl-hello-chk\n timeout client 1s\n";
        let parsed = parse(&[Source::new("t.cfg", text.as_bytes())], &mut |_| None).unwrap();
        assert_eq!(
            parsed.warnings[0].to_string(),
            "t.cfg:3: 'ssl-hello-chk' ignored because frontend 'f' has no backend capability."
        );
    }

    #[test]
    fn bad_arguments_get_haproxys_messages() {
        let error = |lines: &str| config(lines).unwrap_err()[0].clone();
        assert_eq!(
            error(" option ssl-hello-chk x"),
            "t.cfg:7: 'option ssl-hello-chk' cannot handle unexpected argument 'x'."
        );
        assert_eq!(
            error(" option pgsql-check"),
            "t.cfg:7: 'option pgsql-check' expects 'user <username>' as argument."
        );
        assert_eq!(
            error(" option pgsql-check name pg"),
            "t.cfg:7: 'option pgsql-check' only supports optional values: 'user'."
        );
        assert_eq!(
            error(" option mysql-check name"),
            "t.cfg:7: 'option mysql-check' only supports optional values: 'user' (got 'name')."
        );
        assert_eq!(
            error(" option mysql-check user"),
            "t.cfg:7: 'option mysql-check user' expects <username> as argument."
        );
        assert_eq!(
            error(" option mysql-check user u post-42"),
            "t.cfg:7: keyword 'user' only supports 'post-41' and 'pre-41' (got 'post-42')."
        );
        assert_eq!(
            error(" option smtpchk EHLO a b"),
            "t.cfg:7: 'option smtpchk' cannot handle unexpected argument 'b'."
        );
        assert_eq!(
            error(" no option ldap-check"),
            "t.cfg:7: negation/default is not supported for option 'ldap-check'."
        );
    }
}
