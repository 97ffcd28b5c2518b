//! Environment variables, conditional blocks and message directives, with
//! the answers and messages of `haproxy -c` (2.6.12) on the same files.

use std::net::IpAddr;

use super::condition::{self, CondError};
use super::{Parsed, Source, parse_with_env};

/// The environment of these tests.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "FOO" => "x",
        "PORT" => "8080",
        "ADDR" => "127.0.0.1:80",
        "SP" => " a  b ",
        "OPTS" => "check inter 3s",
        "EMPTY" => "",
        "FOO_y" => "Y",
        _ => return None,
    };
    Some(value.to_owned())
}

fn parsed(text: &str) -> Result<Parsed, Vec<String>> {
    parse_with_env(
        &[Source::new("t.cfg", text)],
        &mut |_| Some(IpAddr::from([127, 0, 0, 1])),
        &env,
    )
    .map_err(|e| e.iter().map(ToString::to_string).collect())
}

fn errors(text: &str) -> Vec<String> {
    match parsed(text) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

/// The notices of a configuration that parses.
fn notices(text: &str) -> Vec<String> {
    let parsed = parsed(&format!("{text}\n{PROXY}")).unwrap_or_else(|e| panic!("{e:?}"));
    parsed.notices.iter().map(ToString::to_string).collect()
}

const PROXY: &str = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n \
                     timeout server 1s\nlisten fe\n bind 127.0.0.1:9999\n server s1 \
                     127.0.0.1:80\n";

#[test]
fn variables_expand_inside_double_quotes_only() {
    let n = notices(
        ".notice \"1[$FOO]\"\n\
         .notice \"2[${FOO}]\"\n\
         .notice \"3[${UNSET}]\"\n\
         .notice \"4[${UNSET-def ault}]\"\n\
         .notice \"5[${FOO-def}]\"\n\
         .notice '6[${FOO}]'\n\
         .notice 7[$FOO]\n\
         .notice \"8[\\$FOO]\"\n\
         .notice 9[\\$FOO]\n\
         .notice \"10[${.LINE}:${.FILE}:${.SECTION}]\"\n\
         .notice \"11[$FOO.x$FOO_y]\"\n\
         .notice \"12[${UNSET-a\"b}]\"\n\
         .notice \"${EMPTY}\"\n\
         .notice 14\\qx\\\\y\n\
         .notice \"15[${UNSET-}]\"\n\
         .notice \"16[${SP}]\"",
    );
    assert_eq!(
        n,
        [
            "t.cfg:1: '1[x]'.",
            "t.cfg:2: '2[x]'.",
            "t.cfg:3: '3[]'.",
            "t.cfg:4: '4[def ault]'.",
            "t.cfg:5: '5[x]'.",
            "t.cfg:6: '6[${FOO}]'.",
            "t.cfg:7: '7[$FOO]'.",
            "t.cfg:8: '8[$FOO]'.",
            "t.cfg:9: '9[\\$FOO]'.",
            "t.cfg:10: '10[10:t.cfg:]'.",
            "t.cfg:11: '11[x.xY]'.",
            "t.cfg:12: '12[a\"b]'.",
            "t.cfg:13: ''.",
            "t.cfg:14: '14\\qx\\y'.",
            "t.cfg:15: '15[]'.",
            "t.cfg:16: '16[ a  b ]'.",
        ]
    );
}

#[test]
fn the_section_variable_names_the_section_being_read() {
    let text = format!("{PROXY}.notice \"[${{.SECTION}}]\"\nbackend be\n.notice \"${{.SECTION}}\"");
    let parsed = parsed(&text).unwrap();
    let n: Vec<String> = parsed.notices.iter().map(ToString::to_string).collect();
    assert_eq!(n, ["t.cfg:9: '[fe]'.", "t.cfg:11: 'be'."]);
}

#[test]
fn variables_give_addresses_and_words() {
    let text = "defaults\n mode tcp\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                listen fe\n bind \"127.0.0.1:${PORT}\"\n bind \"127.0.0.1:${NOPORT-9000}\"\n \
                server s1 \"$ADDR\" \"${OPTS[*]}\"\n";
    let c = parsed(text).unwrap().config;
    let ports: Vec<u16> = c.frontends[0].binds.iter().map(|b| b.addr.port()).collect();
    assert_eq!(ports, [8080, 9000]);
    let s1 = &c.backends[0].servers[0];
    assert_eq!(s1.addr.to_string(), "127.0.0.1:80");
    assert!(s1.check);
    assert_eq!(s1.inter.as_secs(), 3);
}

#[test]
fn malformed_references_are_haproxys_errors() {
    for (line, message) in [
        (
            " log-tag \"a$1b\"",
            "forbidden first char in environment variable name at position 13",
        ),
        (
            " log-tag \"a${FOO\"",
            "unmatched brace in environment variable name at position 13",
        ),
        (
            " log-tag \"a${FOO x}\"",
            "unmatched brace in environment variable name at position 13",
        ),
        (
            " log-tag \"a${FOO[x]}\"",
            "truncated or invalid word expansion sequence at position 17: write '${FOO[*]}'",
        ),
        (
            " log-tag \"${.FOO}\"",
            "forbidden first char in environment variable name at position 13: the \
             pseudo-variables are .LINE, .FILE and .SECTION",
        ),
        (
            " log-tag \"a\\xZZ\"",
            "truncated or invalid hexadecimal sequence '\\xZZ' at position 12: expected two \
             hex digits",
        ),
    ] {
        let e = errors(&format!("global\n{line}\n{PROXY}"));
        assert_eq!(e, [format!("t.cfg:2: {message}")], "{line}");
    }
}

#[test]
fn conditions_take_one_branch() {
    let n = notices(
        ".if defined(PORT) && streq(\"$PORT\",8080)\n\
         .notice port\n\
         .elif 1\n\
         .notice elif\n\
         .else\n\
         .notice else\n\
         .endif\n\
         .if defined(NOPE)\n\
         .notice nope\n\
         .elif !defined(NOPE) && strneq(a,b)\n\
         .notice elif2\n\
         .endif\n\
         .if 0\n\
         .if foo(\n\
         .endif\n\
         .notice masked\n\
         .else\n\
         .notice else3\n\
         .endif\n\
         .if\n\
         .notice empty\n\
         .endif",
    );
    assert_eq!(
        n,
        [
            "t.cfg:2: 'port'.",
            "t.cfg:11: 'elif2'.",
            "t.cfg:18: 'else3'."
        ]
    );
}

#[test]
fn masked_lines_are_not_parsed() {
    let n = notices(".if 0\nfrontend\n unknown keyword\n.endif\n.notice after");
    assert_eq!(n, ["t.cfg:5: 'after'."]);
}

#[test]
fn block_errors_are_haproxys() {
    for (text, message) in [
        // The last line of the file is named.
        (".if 1", "t.cfg:9: non-terminated '.if' block."),
        (
            ".if 0\n.else\n.elif 1\n.endif",
            "t.cfg:3: '.elif' after '.else' is not permitted.",
        ),
        (
            ".if 0\n.else\n.else\n.endif",
            "t.cfg:3: '.else' after '.else' is not permitted.",
        ),
        (".endif", "t.cfg:1: lone '.endif' with no matching '.if'."),
        (".else", "t.cfg:1: lone '.else' with no matching '.if'."),
        (".elif 1", "t.cfg:1: lone '.elif' with no matching '.if'."),
        (".foo bar", "t.cfg:1: unknown directive '.foo'."),
        (".alert \"stop here\"", "t.cfg:1: 'stop here'."),
        (
            ".warning a b",
            "t.cfg:1: Unexpected argument 'b' for '.warning'. Use quotes if the message \
             should contain spaces.",
        ),
        (
            ".if foo(1)\n.endif",
            "t.cfg:1: unparsable conditional expression 'foo(1)' in '.if' at position 1: \
             '.if foo(1)'",
        ),
    ] {
        let e = errors(&format!("{text}\n{PROXY}"));
        assert_eq!(e[0], message, "{text}");
    }
    // An error that stops the reading hides what follows; one that ends
    // the file still checks the blocks left open.
    assert_eq!(
        errors(&format!(".alert stop\nbogus\n{PROXY}")),
        ["t.cfg:1: 'stop'."]
    );
    assert_eq!(
        errors(".if 1\n.else x\n.endif\n"),
        [
            "t.cfg:2: Unexpected argument 'x' for '.else'.",
            "t.cfg:2: non-terminated '.if' block."
        ]
    );
}

#[test]
fn an_open_block_is_closed_within_its_file() {
    let sources = [
        Source::new("a.cfg", ".if 1\n"),
        Source::new("b.cfg", ".endif\n"),
    ];
    let e = parse_with_env(&sources, &mut |_| None, &env).unwrap_err();
    assert_eq!(e[0].to_string(), "a.cfg:1: non-terminated '.if' block.");
    assert_eq!(e.len(), 1, "the reading stops: {e:?}");
}

#[test]
fn nesting_stops_at_haproxys_limit() {
    let deep = ".if 1\n".repeat(100);
    let e = errors(&deep);
    assert_eq!(e, ["t.cfg:100: too many nested '.if', max is 100."]);
    let fine = format!("{}{}", ".if 1\n".repeat(99), ".endif\n".repeat(99));
    assert!(notices(&fine).is_empty());
}

#[test]
fn warnings_and_diag() {
    let parsed = parsed(&format!(".warning \"w ${{FOO}}\"\n.diag d\n{PROXY}")).unwrap();
    let w: Vec<String> = parsed.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w, ["t.cfg:1: 'w x'."]);
    assert!(parsed.notices.is_empty());
}

fn eval(text: &str) -> Result<bool, CondError> {
    condition::evaluate(text, &mut |name: &str| env(name).is_some())
}

fn message(text: &str) -> (String, Option<usize>) {
    let e = eval(text).unwrap_err();
    (e.message, e.position)
}

#[test]
fn expressions_follow_cfgcond() {
    for (text, value) in [
        ("", false),
        ("1", true),
        ("0", false),
        ("0x10 && !0 && 010 && !00", true),
        ("!!1 && ! 0", true),
        ("0 || 0 || 1", true),
        ("1 && (0 || 1) && !(0)", true),
        ("defined(FOO)", true),
        ("defined(EMPTY)", true),
        ("defined(NOPE)", false),
        ("defined()", false),
        ("streq(a b,a b)", true),
        ("streq(\"a,b\",\"a,b\")", true),
        ("strneq(a,b)", true),
        ("feature(OPENSSL)", true),
        ("feature(SSL)", false),
        ("feature(LUA)", false),
        // No pinning (`cpu-map`), though `nbthread` counts the affinity mask.
        ("feature(CPU_AFFINITY)", false),
        ("feature(THREAD)", true),
        ("version_atleast(2.6.12)", true),
        ("version_atleast(2.6.13)", false),
        ("version_atleast(2.6-dev1)", true),
        ("version_before(2.7)", true),
        ("version_before(2.6)", false),
        ("version_atleast(abc)", true),
        ("version_before(abc)", false),
        ("ssllib_name_startswith(OpenSSL)", false),
        // Short circuits: the unevaluable branch is not reached.
        ("1 || openssl_version_atleast(1.1.1)", true),
    ] {
        assert_eq!(eval(text), Ok(value), "{text}");
    }
}

#[test]
fn expression_errors_follow_cfgcond() {
    for (text, expected, position) in [
        ("foo(1)", "unparsable conditional expression 'foo(1)'", 1),
        ("1 &&", "unparsable conditional expression '&&'", 3),
        ("1 ||", "unparsable conditional expression '1 ||'", 3),
        (
            "(1 || 0",
            "expected ')' after conditional expression '(1 || 0'",
            1,
        ),
        (
            "defined FOO",
            "unexpected character 'F' at the end of conditional expression 'defined FOO'",
            9,
        ),
        (
            "streq(a)",
            "missing arguments (got 1/2), type 'string' expected in argument 1 of predicate \
             'streq' used in conditional expression",
            8,
        ),
        (
            "streq(a,b,c)",
            "expected ')' before ',c)' in argument 1 of predicate 'streq' used in conditional \
             expression",
            10,
        ),
        (
            "defined(A",
            "expected ')' in argument 1 of predicate 'defined' used in conditional expression",
            10,
        ),
        (
            "defined(A\\",
            "failed to parse '\\' after 'A' as type 'string' at position 1 in argument 0 of \
             predicate 'defined' used in conditional expression",
            10,
        ),
    ] {
        assert_eq!(
            message(text),
            (expected.to_owned(), Some(position)),
            "{text}"
        );
    }
    let (openssl, _) = message("openssl_version_before(3.0)");
    assert!(openssl.contains("weir has no OpenSSL"), "{openssl}");
}

#[test]
fn deep_expressions_are_errors_not_crashes() {
    let deep = "(".repeat(5000);
    assert!(eval(&deep).is_err());
    let long = vec!["1"; 3000].join(" && ");
    assert!(eval(&long).is_err());
    let fine = vec!["1"; 100].join(" || ");
    assert_eq!(eval(&fine), Ok(true));
}

#[test]
fn setenv_and_friends_change_what_later_lines_see() {
    let text = "global\n setenv A 1\n presetenv A 2\n presetenv B 3\n setenv D 1 2\n\
                .notice \"A=${A} B=${B} FOO=${FOO-none} D=$D\"\n resetenv FOO\n\
                .notice \"A=${A-gone} FOO=${FOO-none} PORT=${PORT-unset}\"\n setenv G g\n\
                unsetenv FOO G\n.notice \"FOO=${FOO-none} G=${G-none}\"\n\
                .if defined(A) || defined(PORT)\n.notice set\n.endif";
    assert_eq!(
        notices(text),
        [
            "t.cfg:6: 'A=1 B=3 FOO=x D=1'.",
            "t.cfg:8: 'A=gone FOO=x PORT=unset'.",
            "t.cfg:11: 'FOO=none G=none'.",
        ]
    );
    for (line, message) in [
        (" setenv C", "'setenv' expects a name and a value."),
        (
            " unsetenv",
            "'unsetenv' expects at least one variable name.",
        ),
        (
            " setenv \"\" x",
            "'setenv' failed on variable '' : Invalid argument.",
        ),
        (
            " unsetenv X=Y",
            "'unsetenv' failed on variable 'X=Y' : Invalid argument.",
        ),
        (
            " presetenv D 1 2 3",
            "'presetenv' cannot handle unexpected argument '3'.",
        ),
    ] {
        let e = errors(&format!("global\n{line}\n{PROXY}"));
        assert_eq!(e, [format!("t.cfg:2: {message}")], "{line}");
    }
    let e = errors(&format!("{PROXY} setenv X 1\n"));
    assert!(e[0].starts_with("t.cfg:9: unknown keyword 'setenv' in 'listen' section"));
}
