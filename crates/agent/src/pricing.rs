//! What a model call cost, from a price table per model that settings can override.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Usage;

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    pub const fn new(input_per_mtok: f64, output_per_mtok: f64) -> Self {
        Price {
            input_per_mtok,
            output_per_mtok,
        }
    }

    pub fn cost_usd(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// List prices of well-known models when this table was written. They drift: settings override
/// them (and add local models, usually at 0) rather than anyone trusting these for billing.
const BUILTIN: &[(&str, Price)] = &[
    ("gpt-4o", Price::new(2.50, 10.00)),
    ("gpt-4o-mini", Price::new(0.15, 0.60)),
    ("gpt-4.1", Price::new(2.00, 8.00)),
    ("gpt-4.1-mini", Price::new(0.40, 1.60)),
    ("gpt-4.1-nano", Price::new(0.10, 0.40)),
    ("gpt-5", Price::new(1.25, 10.00)),
    ("gpt-5-mini", Price::new(0.25, 2.00)),
    ("gpt-5-nano", Price::new(0.05, 0.40)),
    ("o3", Price::new(2.00, 8.00)),
    ("o4-mini", Price::new(1.10, 4.40)),
    ("claude-opus-4-5", Price::new(5.00, 25.00)),
    ("claude-opus-4-1", Price::new(15.00, 75.00)),
    ("claude-opus-4", Price::new(15.00, 75.00)),
    ("claude-sonnet-4-5", Price::new(3.00, 15.00)),
    ("claude-sonnet-4", Price::new(3.00, 15.00)),
    ("claude-3-7-sonnet", Price::new(3.00, 15.00)),
    ("claude-haiku-4-5", Price::new(1.00, 5.00)),
    ("claude-3-5-haiku", Price::new(0.80, 4.00)),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    prices: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::builtin()
    }
}

impl PriceTable {
    pub fn builtin() -> Self {
        PriceTable {
            prices: BUILTIN
                .iter()
                .map(|(model, price)| (model.to_string(), *price))
                .collect(),
        }
    }

    pub fn empty() -> Self {
        PriceTable {
            prices: BTreeMap::new(),
        }
    }

    /// The table with `overrides` (from settings) replacing or adding entries.
    pub fn with_overrides(mut self, overrides: impl IntoIterator<Item = (String, Price)>) -> Self {
        self.prices.extend(overrides);
        self
    }

    /// The price of `model`: an exact entry, else the longest entry that the id extends with
    /// `-` (dated snapshots like `gpt-4o-2024-08-06`), after dropping a router prefix such as
    /// OpenRouter's `openai/`.
    pub fn price(&self, model: &str) -> Option<Price> {
        let lookup = |id: &str| -> Option<Price> {
            if let Some(p) = self.prices.get(id) {
                return Some(*p);
            }
            self.prices
                .iter()
                .filter(|(key, _)| {
                    id.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
                })
                .max_by_key(|(key, _)| key.len())
                .map(|(_, p)| *p)
        };
        lookup(model).or_else(|| {
            let (_, bare) = model.rsplit_once('/')?;
            lookup(bare)
        })
    }

    pub fn cost_usd(&self, model: &str, usage: Usage) -> Option<f64> {
        self.price(model).map(|p| p.cost_usd(usage))
    }
}

/// Cost with the built-in table; `None` for a model it does not know.
pub fn cost_usd(model: &str, usage: Usage) -> Option<f64> {
    PriceTable::builtin().cost_usd(model, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
        Usage {
            input_tokens,
            output_tokens,
        }
    }

    #[test]
    fn known_models_snapshots_and_router_prefixes() {
        let u = usage(1_000_000, 1_000_000);
        assert_eq!(cost_usd("gpt-4o", u), Some(12.5));
        assert_eq!(cost_usd("gpt-4o-2024-08-06", u), Some(12.5));
        assert_eq!(cost_usd("gpt-4o-mini-2024-07-18", u), Some(0.75));
        assert_eq!(cost_usd("openai/gpt-4o-mini", u), Some(0.75));
        assert_eq!(cost_usd("claude-sonnet-4-5-20250929", u), Some(18.0));
        assert_eq!(cost_usd("llama3.2", u), None);
        // `gpt-4o` must not price `gpt-4omni`: a prefix only counts before a `-`.
        assert_eq!(cost_usd("gpt-4omni", u), None);
    }

    #[test]
    fn overrides_win_and_add() {
        let table = PriceTable::builtin().with_overrides([
            ("gpt-4o".to_string(), Price::new(1.0, 2.0)),
            ("llama3.2".to_string(), Price::new(0.0, 0.0)),
        ]);
        assert_eq!(table.cost_usd("gpt-4o", usage(500_000, 250_000)), Some(1.0));
        assert_eq!(table.cost_usd("llama3.2", usage(10, 10)), Some(0.0));
    }
}
