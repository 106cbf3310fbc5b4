//! The measures and proxies at initialisation, by name: one enum whose
//! [`Measure::name`] is the word records, summaries, figures and
//! `recommend --by` use.

use std::fmt;

/// A measure of METHOD §3 or a zero-cost proxy, as recorded per network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Measure {
    /// Mean absolute third difference of the output landscape.
    V3,
    /// Fraction of (point, unit) pairs on the steep part of σ.
    ActivationRatio,
    /// Distinct activation patterns over the grid.
    ActivationCount,
    /// Relative variation of the output landscape (C2C when below ε).
    RvOut,
    /// NASWOT (Mellor et al. 2021).
    Naswot,
    /// The gradient norm.
    GradNorm,
    /// SNIP (Lee et al. 2019).
    Snip,
    /// SynFlow (Tanaka et al. 2020).
    Synflow,
    /// The condition number of the empirical NTK.
    NtkCond,
    /// ZiCo (Li et al. 2023).
    Zico,
}

impl Measure {
    /// Every measure, the variability measures first, then the proxies: the
    /// order of tables, figures and correlations.
    pub const ALL: [Measure; 10] = [
        Measure::V3,
        Measure::ActivationRatio,
        Measure::ActivationCount,
        Measure::RvOut,
        Measure::Naswot,
        Measure::GradNorm,
        Measure::Snip,
        Measure::Synflow,
        Measure::NtkCond,
        Measure::Zico,
    ];

    /// The zero-cost proxies: [`Measure::ALL`] after the four variability
    /// measures.
    pub const PROXIES: &'static [Measure] = Measure::ALL.split_at(4).1;

    /// The name in records, summaries and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Measure::V3 => "v3",
            Measure::ActivationRatio => "activation_ratio",
            Measure::ActivationCount => "activation_count",
            Measure::RvOut => "rv_out",
            Measure::Naswot => "naswot",
            Measure::GradNorm => "grad_norm",
            Measure::Snip => "snip",
            Measure::Synflow => "synflow",
            Measure::NtkCond => "ntk_cond",
            Measure::Zico => "zico",
        }
    }

    /// The measure of a name, if one has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this is a zero-cost proxy rather than a variability measure.
    pub fn is_proxy(self) -> bool {
        Self::PROXIES.contains(&self)
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn names_round_trip_and_match_the_command_line() {
        for measure in Measure::ALL {
            assert_eq!(Measure::from_name(measure.name()), Some(measure));
            let value = measure.to_possible_value().unwrap();
            assert_eq!(value.get_name(), measure.name());
        }
        assert_eq!(Measure::from_name("train_acc"), None);
        assert_eq!(Measure::PROXIES[0], Measure::Naswot);
        assert_eq!(Measure::PROXIES.len(), 6);
        assert!(!Measure::V3.is_proxy() && !Measure::RvOut.is_proxy());
    }
}
