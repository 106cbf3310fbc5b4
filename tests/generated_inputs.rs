//! Generated inputs through the parser and the one checker, in process:
//! random study files (known keys with values of any type, unknown keys,
//! truncations, garbage) and random flag vectors. Every one is accepted, or
//! refused with an input error naming a key or a flag; none panics.

use clap::Parser;
use proptest::prelude::*;
use proptest::test_runner::Config;
use variability::cli::{Cli, Command};
use variability::error::InputError;
use variability::nn::Registry;
use variability::study::StudyConfig;

/// The kind of value a key or flag takes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Number,
    Numbers,
    Word,
    Words,
    Flag,
}

/// The keys of a study file, top level then `[train]`, with their kinds.
const TOP_KEYS: [(&str, Kind); 14] = [
    ("name", Kind::Word),
    ("budget", Kind::Number),
    ("budgets", Kind::Numbers),
    ("activations", Kind::Words),
    ("depths", Kind::Numbers),
    ("layer", Kind::Word),
    ("init", Kind::Word),
    ("grid", Kind::Number),
    ("epsilon", Kind::Number),
    ("proxies", Kind::Flag),
    ("measure_seeds", Kind::Number),
    ("train_seeds", Kind::Number),
    ("seed", Kind::Number),
    ("backend", Kind::Word),
];
const TRAIN_KEYS: [(&str, Kind); 12] = [
    ("steps", Kind::Number),
    ("learning_rate", Kind::Number),
    ("batch_size", Kind::Number),
    ("log_every", Kind::Number),
    ("adam_beta1", Kind::Number),
    ("adam_beta2", Kind::Number),
    ("adam_epsilon", Kind::Number),
    ("loss", Kind::Word),
    ("problem", Kind::Word),
    ("cells", Kind::Number),
    ("train_size", Kind::Number),
    ("test_size", Kind::Number),
];

/// A valid study (the tiny one of the integration tests), key by key.
const BASE: [(&str, &str); 11] = [
    ("name", "\"tiny\""),
    ("budget", "200"),
    ("activations", "[\"relu\", \"abs\"]"),
    ("depths", "[1, 3]"),
    ("grid", "12"),
    ("measure_seeds", "6"),
    ("train_seeds", "2"),
    ("train.steps", "40"),
    ("train.log_every", "10"),
    ("train.train_size", "64"),
    ("train.test_size", "64"),
];

/// Words a user might write, right and wrong.
const WORDS: [&str; 24] = [
    "relu",
    "abs",
    "tanh",
    "shifted-relu:0.5",
    "shifted-relu:40",
    "shifted-relu:x",
    "clipped-relu:0:-1",
    "dense",
    "residual",
    "conv",
    "checkerboard",
    "checkerboard:4",
    "spirals:2",
    "rings:0",
    "mse",
    "bce",
    "scaled",
    "he",
    "flex",
    "cuda",
    ".",
    "..",
    "a/b",
    "",
];

/// A number as text: small, edge or any.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0i64..20).prop_map(|n| n.to_string()),
        2 => (-3i64..3000).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        2 => (-2f64..2.0).prop_map(|x| format!("{x:e}")),
        1 => prop::sample::select(vec!["0.5", "1e-3", "1e400", "-0.0", "inf", "nan", "1e12"])
            .prop_map(str::to_string),
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS.to_vec()).prop_map(str::to_string)
}

/// A value of `kind` as TOML text; now and then one of another kind.
fn toml_value(kind: Kind) -> BoxedStrategy<String> {
    let quoted = || word().prop_map(|w| format!("{w:?}"));
    let list = |items: BoxedStrategy<String>| {
        prop::collection::vec(items, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
    };
    let right = match kind {
        Kind::Number => number().boxed(),
        Kind::Numbers => list(number().boxed()).boxed(),
        Kind::Word => quoted().boxed(),
        Kind::Words => list(quoted().boxed()).boxed(),
        Kind::Flag => any::<bool>().prop_map(|b| b.to_string()).boxed(),
    };
    let any_kind = prop_oneof![number(), quoted(), list(number().boxed())];
    prop_oneof![6 => right, 1 => any_kind].boxed()
}

/// One change to the valid study: a key set to a value, or removed.
fn change() -> impl Strategy<Value = (String, Option<String>)> {
    let top = prop::sample::select(TOP_KEYS.to_vec()).prop_map(|(k, kind)| (k.to_string(), kind));
    let train = prop::sample::select(TRAIN_KEYS.to_vec())
        .prop_map(|(k, kind)| (format!("train.{k}"), kind));
    let unknown = "[a-z_]{1,8}".prop_map(|k| (k, Kind::Number));
    prop_oneof![4 => top, 4 => train, 1 => unknown].prop_flat_map(|(key, kind)| {
        (
            Just(key),
            prop_oneof![5 => toml_value(kind).prop_map(Some), 1 => Just(None)],
        )
    })
}

/// A study file: the valid study with a few keys changed or removed, now
/// and then a line of garbage, or cut short.
fn study_file() -> impl Strategy<Value = String> {
    let garbage = prop_oneof![8 => Just(String::new()), 1 => "[ -~]{0,30}"];
    let cut = prop_oneof![8 => Just(None), 1 => any::<prop::sample::Index>().prop_map(Some)];
    (prop::collection::vec(change(), 0..4), garbage, cut).prop_map(|(changes, garbage, cut)| {
        let mut entries: Vec<(String, String)> = BASE
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (key, value) in changes {
            entries.retain(|(k, _)| *k != key);
            if let Some(value) = value {
                entries.push((key, value));
            }
        }
        let (train, top): (Vec<_>, Vec<_>) =
            entries.iter().partition(|(k, _)| k.starts_with("train."));
        let mut text = String::new();
        for (key, value) in top {
            text += &format!("{key} = {value}\n");
        }
        text += &format!("{garbage}\n[train]\n");
        for (key, value) in train {
            text += &format!("{} = {value}\n", &key["train.".len()..]);
        }
        if let Some(at) = cut {
            let mut end = at.index(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    })
}

/// Whether a refusal of study file `text` names a key: one of the file's
/// keys (`train.x` for the `[train]` table's), one the user wrote, or, for
/// a mistake outside any key's line, the file with the line.
fn names_a_key(error: &InputError, text: &str, origin: &str) -> bool {
    let key = error.field.strip_prefix("train.").unwrap_or(&error.field);
    let known = TOP_KEYS.iter().chain(&TRAIN_KEYS).any(|(k, _)| *k == key)
        || ["layer", "budget", "study"].contains(&key)
        || text
            .lines()
            .any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key));
    let file = error.field == origin && error.message.contains(&format!("({origin}"));
    (known || file) && !error.message.trim().is_empty()
}

/// A flag vector for `measure`, `train`, `theory` or `recommend`: flags
/// with values of their kind, now and then of another, or an unknown flag.
fn command_line() -> impl Strategy<Value = Vec<String>> {
    let command = prop::sample::select(vec!["measure", "train", "theory", "recommend"]);
    let flag = prop::sample::select(vec![
        ("--activation", Kind::Words),
        ("--depth", Kind::Numbers),
        ("--layer", Kind::Words),
        ("--budget", Kind::Number),
        ("--seeds", Kind::Number),
        ("--grid", Kind::Number),
        ("--init", Kind::Word),
        ("--epsilon", Kind::Number),
        ("--seed", Kind::Number),
        ("--backend", Kind::Word),
        ("--problem", Kind::Word),
        ("--cells", Kind::Number),
        ("--train-size", Kind::Number),
        ("--test-size", Kind::Number),
        ("--loss", Kind::Word),
        ("--threads", Kind::Number),
        ("--lr", Kind::Number),
        ("--batch-size", Kind::Number),
        ("--steps", Kind::Number),
        ("--log-every", Kind::Number),
        ("--adam-beta1", Kind::Number),
        ("--adam-epsilon", Kind::Number),
        ("--pairs", Kind::Number),
        ("--by", Kind::Word),
        ("--verify", Kind::Number),
        ("--verify-seeds", Kind::Number),
        ("--bogus", Kind::Number),
    ]);
    let flag_and_value = flag.prop_flat_map(|(flag, kind)| {
        let right = match kind {
            Kind::Number => number().boxed(),
            Kind::Numbers => prop::collection::vec(number(), 1..4)
                .prop_map(|v| v.join(","))
                .boxed(),
            Kind::Word | Kind::Flag => word().boxed(),
            Kind::Words => prop::collection::vec(word(), 1..3)
                .prop_map(|v| v.join(","))
                .boxed(),
        };
        (Just(flag), prop_oneof![6 => right, 1 => "[ -~]{0,8}"])
    });
    (command, prop::collection::vec(flag_and_value, 0..5)).prop_map(|(command, flags)| {
        let mut line = vec!["variability".to_string(), command.to_string()];
        for (flag, value) in flags {
            line.push(flag.to_string());
            line.push(value);
        }
        line
    })
}

/// Builds the plan of a parsed command line (nothing runs).
fn plan(cli: Cli, registry: &Registry) -> Result<(), InputError> {
    match cli.command {
        Command::Measure(args) => args.plan(registry).map(drop),
        Command::Train(args) => args.plan(registry).map(drop),
        Command::Theory(args) => args.plan(registry).map(drop),
        Command::Recommend(args) => args.plan(registry).map(drop),
        _ => Ok(()),
    }
}

proptest! {
    #![proptest_config(Config { cases: 3000, failure_persistence: None, ..Config::default() })]

    #[test]
    fn a_study_file_is_accepted_or_refused_naming_a_key(text in study_file()) {
        let registry = Registry::builtin();
        let result = StudyConfig::parse(&text, "generated.toml")
            .and_then(|config| config.plan(&registry, None));
        if let Err(error) = result {
            prop_assert!(names_a_key(&error, &text, "generated.toml"), "{text}\n→ {error}");
        }
    }

    #[test]
    fn a_command_line_is_accepted_or_refused_naming_a_flag(line in command_line()) {
        let registry = Registry::builtin();
        match Cli::try_parse_from(&line) {
            // clap names the flag or the value it could not take.
            Err(error) => prop_assert!(error.to_string().contains("error:"), "{line:?}: {error}"),
            Ok(cli) => {
                if let Err(error) = plan(cli, &registry) {
                    prop_assert!(
                        error.field.starts_with("--") && !error.message.is_empty(),
                        "{line:?} → {error}"
                    );
                }
            }
        }
    }
}
