//! The newest-wins script in a real redis-server agrees with the rule in
//! Rust (`lease_model::newest`): for a table of cases and for generated
//! ones, the same verdict, the value and TTL left behind, and the replies.

use std::sync::OnceLock;

use lease_model::newest::{self, Standing};
use lease_model::{
    Hostname, INFINITE_LIFETIME, Lease, LeaseEvent, LeaseRecord, NEWEST_WINS_SCRIPT, RedisSchema,
    RedisWrite, SCRIPT_APPLIED, SCRIPT_REFUSED,
};
use proptest::prelude::*;
use redis::Value;
use system_tests::redis::RedisServer;

const KEY: &str = "aae:lease:192.0.2.10";
/// The TTL of what is stored before each case.
const OLD_TTL: u64 = 10_000;
/// The TTL a set in a case asks for.
const NEW_TTL: u64 = 500;

struct Fixture {
    _redis: RedisServer,
    conn: std::sync::Mutex<redis::Connection>,
    sha: String,
}

/// One server for the whole binary (tests run in parallel, so each uses a
/// key of its own).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let redis = RedisServer::start();
        let mut conn = redis::Client::open(redis.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(NEWEST_WINS_SCRIPT)
            .query(&mut conn)
            .unwrap();
        Fixture {
            _redis: redis,
            conn: std::sync::Mutex::new(conn),
            sha,
        }
    })
}

fn rec(cltt: i64, valid: u32, node: &str) -> LeaseRecord {
    LeaseRecord {
        lease: Lease::new(
            "192.0.2.10".parse().unwrap(),
            "aa:bb:cc:dd:ee:ff".parse().unwrap(),
            valid,
            cltt,
            Hostname::from_text("h"),
            1,
            LeaseEvent::Renew,
        ),
        node: node.into(),
    }
}

fn value(r: &LeaseRecord) -> Vec<u8> {
    RedisSchema::default().encode(r).into_bytes()
}

/// What the key holds before a case.
#[derive(Clone, Debug)]
enum Stored {
    Nothing,
    Value(Vec<u8>),
    /// A key of another type (a hash).
    Hash,
}

#[derive(Clone, Debug)]
enum Op {
    Set { value: Vec<u8>, ttl: u64 },
    Del { cltt: i64, forget: bool },
}

/// What the key holds after a case: its value and TTL (-2 absent, -1 none).
#[derive(Debug, PartialEq)]
struct After {
    reply: Value,
    value: Option<Vec<u8>>,
    ttl: i64,
}

fn run(key: &str, stored: &Stored, op: &Op) -> After {
    let f = fixture();
    let mut conn = f.conn.lock().unwrap();
    let c = &mut *conn;
    let _: () = redis::cmd("DEL").arg(key).query(c).unwrap();
    match stored {
        Stored::Nothing => {}
        Stored::Value(v) => {
            let _: () = redis::cmd("SET")
                .arg(key)
                .arg(v)
                .arg("EX")
                .arg(OLD_TTL)
                .query(c)
                .unwrap();
        }
        Stored::Hash => {
            let _: () = redis::cmd("HSET")
                .arg(key)
                .arg("f")
                .arg("v")
                .query(c)
                .unwrap();
        }
    }
    let mut eval = redis::cmd("EVALSHA");
    eval.arg(&f.sha).arg(1).arg(key);
    match op {
        Op::Set { value, ttl } => eval.arg("set").arg(value).arg(ttl),
        Op::Del { cltt, forget } => eval.arg(if *forget { "forget" } else { "del" }).arg(cltt),
    };
    let reply: Value = eval.query(c).unwrap();
    let value: Option<Vec<u8>> = match redis::cmd("TYPE").arg(key).query::<String>(c).unwrap() {
        t if t == "string" => redis::cmd("GET").arg(key).query(c).unwrap(),
        t if t == "none" => None,
        _ => Some(b"<hash>".to_vec()),
    };
    let ttl: i64 = redis::cmd("TTL").arg(key).query(c).unwrap();
    After { reply, value, ttl }
}

/// What the Rust rule says `run` should find.
fn expected(stored: &Stored, op: &Op) -> (bool, Option<Vec<u8>>) {
    let raw = match stored {
        Stored::Value(v) => Some(v.as_slice()),
        _ => None,
    };
    let applies = match op {
        Op::Set { value, .. } => newest::write_applies(value, raw),
        Op::Del { cltt, .. } => newest::deletion_applies(*cltt, raw),
    };
    let left = match (applies, op, stored) {
        (true, Op::Set { value, .. }, _) => Some(value.clone()),
        (true, Op::Del { .. }, _) => None,
        (false, _, Stored::Value(v)) => Some(v.clone()),
        (false, _, Stored::Nothing) => None,
        (false, _, Stored::Hash) => Some(b"<hash>".to_vec()),
    };
    (applies, left)
}

fn check(key: &str, stored: &Stored, op: &Op) -> Result<(), TestCaseError> {
    let got = run(key, stored, op);
    let (applies, left) = expected(stored, op);
    let ctx = format!("{stored:?} then {op:?}: {got:?}");
    prop_assert_eq!(&got.value, &left, "{}", ctx);
    let want_reply = match (applies, op, stored) {
        (false, _, _) => Value::Int(SCRIPT_REFUSED),
        (true, Op::Del { forget: true, .. }, Stored::Value(v)) => Value::BulkString(v.clone()),
        (true, Op::Del { forget: true, .. }, _) => Value::Nil,
        (true, _, _) => Value::Int(SCRIPT_APPLIED),
    };
    prop_assert_eq!(&got.reply, &want_reply, "{}", ctx);
    let old_ttl = match stored {
        Stored::Value(_) => OLD_TTL as i64,
        Stored::Hash => -1,
        Stored::Nothing => -2,
    };
    let ttl_ok = match (applies, op) {
        (true, Op::Set { ttl: 0, .. }) => got.ttl == -1,
        (true, Op::Set { ttl, .. }) => (*ttl as i64 - 2..=*ttl as i64).contains(&got.ttl),
        (true, Op::Del { .. }) => got.ttl == -2,
        (false, _) if old_ttl > 0 => (old_ttl - 2..=old_ttl).contains(&got.ttl),
        (false, _) => got.ttl == old_ttl,
    };
    prop_assert!(ttl_ok, "TTL {}: {}", got.ttl, ctx);
    Ok(())
}

fn set(r: &LeaseRecord) -> Op {
    Op::Set {
        value: value(r),
        ttl: NEW_TTL,
    }
}

#[test]
fn the_script_follows_the_rule_for_each_case_of_the_table() {
    let inf = INFINITE_LIFETIME;
    let old = Stored::Value(value(&rec(100, 3600, "dhcp-a")));
    let cases: Vec<(&str, Stored, Op, bool)> = vec![
        (
            "nothing stored",
            Stored::Nothing,
            set(&rec(100, 60, "dhcp-a")),
            true,
        ),
        (
            "a later cltt",
            old.clone(),
            set(&rec(101, 60, "dhcp-b")),
            true,
        ),
        (
            "an earlier cltt arriving late",
            old.clone(),
            set(&rec(99, 7200, "dhcp-b")),
            false,
        ),
        (
            "own older state",
            old.clone(),
            set(&rec(99, 3600, "dhcp-a")),
            false,
        ),
        (
            "own state again at the same cltt",
            old.clone(),
            set(&rec(100, 60, "dhcp-a")),
            true,
        ),
        (
            "same cltt, other node, later expiry",
            old.clone(),
            set(&rec(100, 3601, "dhcp-0")),
            true,
        ),
        (
            "same cltt, other node, earlier expiry",
            old.clone(),
            set(&rec(100, 3599, "dhcp-z")),
            false,
        ),
        (
            "same cltt and expiry, greater name",
            old.clone(),
            set(&rec(100, 3600, "dhcp-b")),
            true,
        ),
        (
            "same cltt and expiry, lesser name",
            old.clone(),
            set(&rec(100, 3600, "dhcp-0")),
            false,
        ),
        (
            "infinite over finite",
            old.clone(),
            set(&rec(100, inf, "dhcp-0")),
            true,
        ),
        (
            "finite under infinite",
            Stored::Value(value(&rec(100, inf, "dhcp-0"))),
            set(&rec(100, 3600, "dhcp-z")),
            false,
        ),
        (
            "bytewise names: B < a",
            Stored::Value(value(&rec(100, 60, "B"))),
            set(&rec(100, 60, "a")),
            true,
        ),
        (
            "an infinite lease set without TTL",
            old.clone(),
            Op::Set {
                value: value(&rec(101, inf, "dhcp-a")),
                ttl: 0,
            },
            true,
        ),
        (
            "junk is replaced",
            Stored::Value(b"aa:bb:cc".to_vec()),
            set(&rec(1, 60, "x")),
            true,
        ),
        (
            "another version is replaced",
            Stored::Value(br#"{"v":2,"cltt":999,"valid_lifetime":60,"node":"z"}"#.to_vec()),
            set(&rec(1, 60, "x")),
            true,
        ),
        (
            "a hash is replaced",
            Stored::Hash,
            set(&rec(1, 60, "x")),
            true,
        ),
        (
            "deleting the ended lease",
            old.clone(),
            Op::Del {
                cltt: 100,
                forget: false,
            },
            true,
        ),
        (
            "deleting an older lease",
            old.clone(),
            Op::Del {
                cltt: 150,
                forget: false,
            },
            true,
        ),
        (
            "a late deletion of an older lease",
            old.clone(),
            Op::Del {
                cltt: 99,
                forget: false,
            },
            false,
        ),
        (
            "deleting nothing",
            Stored::Nothing,
            Op::Del {
                cltt: 99,
                forget: false,
            },
            true,
        ),
        (
            "deleting junk",
            Stored::Value(b"x".to_vec()),
            Op::Del {
                cltt: 0,
                forget: false,
            },
            true,
        ),
        (
            "deleting a hash",
            Stored::Hash,
            Op::Del {
                cltt: 0,
                forget: false,
            },
            true,
        ),
        (
            "forget returns what it deletes",
            old.clone(),
            Op::Del {
                cltt: 100,
                forget: true,
            },
            true,
        ),
        (
            "forget of nothing",
            Stored::Nothing,
            Op::Del {
                cltt: 100,
                forget: true,
            },
            true,
        ),
        (
            "forget refused by a newer lease",
            old.clone(),
            Op::Del {
                cltt: 99,
                forget: true,
            },
            false,
        ),
    ];
    for (i, (what, stored, op, applies)) in cases.iter().enumerate() {
        assert_eq!(expected(stored, op).0, *applies, "the rule, for {what}");
        let key = format!("{KEY}:table:{i}");
        check(&key, stored, op).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

#[test]
fn rust_writes_go_through_the_script_as_into_script_call_makes_them() {
    let f = fixture();
    let mut conn = f.conn.lock().unwrap();
    let schema = RedisSchema::new("aae:calls:", 300).unwrap();
    let call = |r: &LeaseRecord, forget: bool, conn: &mut redis::Connection| -> Value {
        let c = schema
            .write_for(r, r.lease.cltt)
            .into_script_call(forget)
            .unwrap();
        redis::cmd("EVALSHA")
            .arg(&f.sha)
            .arg(1)
            .arg(&c.key)
            .arg(&c.args)
            .query(conn)
            .unwrap()
    };
    let newer = rec(200, 3600, "dhcp-b");
    assert_eq!(call(&newer, false, &mut conn), Value::Int(SCRIPT_APPLIED));
    let older = rec(100, 3600, "dhcp-a");
    assert_eq!(call(&older, false, &mut conn), Value::Int(SCRIPT_REFUSED));
    let mut ended = older.clone();
    ended.lease.event = LeaseEvent::Release;
    assert!(matches!(
        schema.write_for(&ended, 0),
        RedisWrite::Delete { cltt: 100, .. }
    ));
    assert_eq!(call(&ended, true, &mut conn), Value::Int(SCRIPT_REFUSED));
    let mut ended = newer.clone();
    ended.lease.event = LeaseEvent::Expire;
    assert_eq!(
        call(&ended, true, &mut conn),
        Value::BulkString(value(&newer))
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg("aae:calls:192.0.2.10")
        .query(&mut *conn)
        .unwrap();
    assert_eq!(ttl, -2);
}

fn any_stored() -> impl Strategy<Value = Stored> {
    prop_oneof![
        1 => Just(Stored::Nothing),
        1 => Just(Stored::Hash),
        1 => prop::sample::select(vec![
            &b"junk"[..],
            br#"{"v":1,"cltt":"5","valid_lifetime":1,"node":"a"}"#,
            br#"{"v":1,"cltt":5,"valid_lifetime":1.5,"node":"a"}"#,
            br#"{"v":1.0,"cltt":5e0,"valid_lifetime":1,"node":"a"}"#,
            br#"{"v":1,"cltt":4503599627370496,"valid_lifetime":1,"node":"a"}"#,
            br#"{"v":1,"cltt":-4503599627370495,"valid_lifetime":1,"node":"a"}"#,
        ])
        .prop_map(|v| Stored::Value(v.to_vec())),
        8 => any_record().prop_map(|r| Stored::Value(value(&r))),
    ]
}

fn any_record() -> impl Strategy<Value = LeaseRecord> {
    (
        -3i64..3,
        prop_oneof![
            0u32..4,
            Just(INFINITE_LIFETIME - 1),
            Just(INFINITE_LIFETIME)
        ],
        "[aAbé]{0,2}",
    )
        .prop_map(|(c, v, n)| rec(1_800_000_000 + c, v, &n))
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any_record(), prop_oneof![Just(0u64), 1u64..1000]).prop_map(|(r, ttl)| Op::Set {
            value: value(&r),
            ttl
        }),
        (1_800_000_000i64 - 4..1_800_000_000 + 4, any::<bool>())
            .prop_map(|(cltt, forget)| Op::Del { cltt, forget }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn the_script_and_the_rule_agree(stored in any_stored(), op in any_op()) {
        check(&format!("{KEY}:prop"), &stored, &op)?;
    }

    #[test]
    fn a_record_reads_back_as_its_standing(r in any_record()) {
        prop_assert_eq!(Standing::read(&value(&r)), Standing::of(&r));
    }
}
