use super::*;
use crate::stats::OpState;

const HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

/// A line of haproxy 2.6.12's `show servers state` for a drained server.
const DRAINED: &str = "3 app 1 gw1 127.0.0.1 2 8 1 1 42 6 3 4 6 0 0 0 - 8443 - 0 0 - - 0\n";

fn file(lines: &str) -> Vec<u8> {
    format!("{HEADER}{lines}").into_bytes()
}

#[test]
fn haproxy_line_is_read() {
    let parsed = parse(&file(DRAINED)).unwrap();
    let [line] = parsed.lines.as_slice() else {
        panic!("{parsed:?}")
    };
    assert_eq!((line.line, line.be_id), (3, Some(3)));
    assert_eq!(
        (line.be_name.as_str(), line.srv_name.as_str()),
        ("app", "gw1")
    );
    let values = line.values.as_ref().unwrap();
    assert_eq!(values.op, OpState::Running);
    assert_eq!(values.admin, 0x08);
    assert_eq!((values.uweight, values.iweight), (1, 1));
    assert_eq!((values.last_change_secs, values.check_health), (42, 4));
    assert_eq!((values.check_state, values.port), (6, 8443));
    assert_eq!(values.addr.as_deref(), Some("127.0.0.1"));
}

#[test]
fn twenty_fields_tabs_blank_lines_and_comments_are_accepted() {
    let text = file("\n  # note\n\t3\tapp 1 gw1 - 0 0 1 1 0 0 0 0 0 0 0 0 - 80 -\n");
    let parsed = parse(&text).unwrap();
    assert_eq!(parsed.lines.len(), 1);
    assert_eq!(parsed.lines[0].line, 5);
    assert_eq!(parsed.lines[0].values.as_ref().unwrap().addr, None);
}

#[test]
fn version_other_than_1_refuses_the_file() {
    for text in ["", "2\n", "1", " 1\n", "1 \n", "01\n", "x\n"] {
        assert_eq!(parse(text.as_bytes()), Err(FileError::Version), "{text:?}");
    }
}

#[test]
fn structural_faults_refuse_the_file_at_their_line() {
    let short = "3 app 1 gw1 - 0 0 1 1 0 0 0 0 0 0 0 0 - 80\n";
    let long = DRAINED.replace('\n', " 1\n");
    let unterminated = DRAINED.trim_end();
    let huge = format!(
        "3 app 1 {} - 0 0 1 1 0 0 0 0 0 0 0 0 - 80 -\n",
        "s".repeat(MAX_LINE)
    );
    for bad in [short, long.as_str(), unterminated, huge.as_str()] {
        let text = file(&format!("{DRAINED}{bad}"));
        assert_eq!(parse(&text), Err(FileError::Corrupted(4)), "{bad:?}");
    }
    let mut text = file(DRAINED);
    text.extend_from_slice(b"3 app 1 \xff - 0 0 1 1 0 0 0 0 0 0 0 0 - 80 -\n");
    assert_eq!(parse(&text), Err(FileError::Corrupted(4)));
}

#[test]
fn bad_values_make_the_line_unusable_with_haproxy_messages() {
    let text = file("3 app 1 gw1 - 7 2 300 1 x 21 5 -1 32 0 2 0 - 70000 -\n");
    let parsed = parse(&text).unwrap();
    let bad = parsed.lines[0].values.clone().unwrap_err();
    for field in [
        "srv_op_state value '7'",
        "srv_uweight value '300'",
        "srv_last_time_change value 'x'",
        "srv_check_status value '21'",
        "srv_check_result value '5'",
        "srv_check_state value '32'",
        "bk_f_forced_id value '2'",
        "srv_port value '70000'",
    ] {
        assert!(
            bad.contains(&format!(", invalid {field}")),
            "{field}: {bad}"
        );
    }
    // An inherited flag (IMAINT 0x02) is dropped, not refused: the admin
    // state 2 is valid, and a negative health counter too.
    assert!(!bad.contains("srv_admin_state") && !bad.contains("srv_check_health"));
}

#[test]
fn every_own_admin_combination_is_accepted_and_others_refused() {
    for (admin, ok) in [
        (0, true),
        (1, true),
        (4, true),
        (5, true),
        (8, true),
        (12, true),
    ] {
        let text = file(&format!(
            "3 app 1 gw1 - 2 {admin} 1 1 0 0 0 0 0 0 0 0 - 80 -\n"
        ));
        assert_eq!(parse(&text).unwrap().lines[0].values.is_ok(), ok, "{admin}");
    }
    for admin in [9, 13, 128] {
        let text = file(&format!(
            "3 app 1 gw1 - 2 {admin} 1 1 0 0 0 0 0 0 0 0 - 80 -\n"
        ));
        assert!(parse(&text).unwrap().lines[0].values.is_err(), "{admin}");
    }
}
