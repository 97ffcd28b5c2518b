//! `ok-status`, `error-status`, `tout-status` and `status-code` of an
//! expect rule, with `parse_tcpcheck_expect`'s messages.

use super::super::{RuleStatus, Statuses};

/// Reads the value of `word` into `statuses`.
pub(super) fn parse(
    word: &str,
    value: Option<&str>,
    statuses: &mut Statuses,
) -> Result<(), String> {
    let Some(value) = value else {
        let what = match word {
            "status-code" => "an expression",
            _ => "a string",
        };
        return Err(format!("'{word}' expects {what} as argument"));
    };
    let choices: &[(&str, RuleStatus)] = match word {
        "ok-status" => &[
            ("L7OK", RuleStatus::L7Ok),
            ("L7OKC", RuleStatus::L7OkC),
            ("L6OK", RuleStatus::L6Ok),
            ("L4OK", RuleStatus::L4Ok),
        ],
        "error-status" => &[
            ("L7RSP", RuleStatus::L7Rsp),
            ("L7STS", RuleStatus::L7Sts),
            ("L7OKC", RuleStatus::L7OkC),
            ("L6RSP", RuleStatus::L6Rsp),
            ("L4CON", RuleStatus::L4Con),
        ],
        "tout-status" => &[
            ("L7TOUT", RuleStatus::L7Tout),
            ("L6TOUT", RuleStatus::L6Tout),
            ("L4TOUT", RuleStatus::L4Tout),
        ],
        _ => {
            statuses.code = Some(status_code(value)?);
            return Ok(());
        }
    };
    let found = choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value));
    let Some(&(_, status)) = found else {
        let names = match word {
            "ok-status" => "'L4OK', 'L6OK', 'L7OK' or 'L7OKC'",
            "error-status" => "'L4CON', 'L6RSP', 'L7RSP' or 'L7STS'",
            _ => "'L4TOUT', 'L6TOUT' or 'L7TOUT'",
        };
        return Err(format!(
            "'{word}' only supports {names} status (got '{value}')."
        ));
    };
    *match word {
        "ok-status" => &mut statuses.ok,
        "error-status" => &mut statuses.error,
        _ => &mut statuses.timeout,
    } = Some(status);
    Ok(())
}

/// `status-code int(N)`: weir has no sample fetches, so only a constant.
fn status_code(expr: &str) -> Result<i64, String> {
    expr.strip_prefix("int(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "'status-code {expr}' : weir has no sample fetches, only a constant \
                 'int(<number>)' is supported"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_in_any_case_with_haproxys_messages() {
        let mut s = Statuses::default();
        parse("ok-status", Some("l7okc"), &mut s).unwrap();
        parse("error-status", Some("L4CON"), &mut s).unwrap();
        parse("tout-status", Some("L6TOUT"), &mut s).unwrap();
        parse("status-code", Some("int(503)"), &mut s).unwrap();
        assert_eq!(
            s,
            Statuses {
                ok: Some(RuleStatus::L7OkC),
                error: Some(RuleStatus::L4Con),
                timeout: Some(RuleStatus::L6Tout),
                code: Some(503),
            }
        );
        assert_eq!(
            parse("ok-status", Some("L7STS"), &mut s).unwrap_err(),
            "'ok-status' only supports 'L4OK', 'L6OK', 'L7OK' or 'L7OKC' status (got 'L7STS')."
        );
        assert_eq!(
            parse("tout-status", None, &mut s).unwrap_err(),
            "'tout-status' expects a string as argument"
        );
        assert!(parse("status-code", Some("res.hdr(x)"), &mut s).is_err());
    }
}
