//! A small built-in order table (read by `lookup_order`) and the notes that `set_order_note`
//! keeps in memory. Nothing here is persisted: a restarted server starts with no notes.

use std::collections::HashMap;
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::Serialize;

/// One order as `lookup_order` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OrderDetails {
    pub order_id: String,
    pub customer: String,
    pub email: String,
    pub status: String,
    pub items: Vec<String>,
    pub total_cents: u64,
    /// The note last set with `set_order_note`, if any.
    pub note: Option<String>,
}

struct BuiltInOrder {
    order_id: &'static str,
    customer: &'static str,
    email: &'static str,
    status: &'static str,
    items: &'static [&'static str],
    total_cents: u64,
}

const ORDERS: &[BuiltInOrder] = &[
    BuiltInOrder {
        order_id: "A-1001",
        customer: "Ada Lovelace",
        email: "ada@example.com",
        status: "shipped",
        items: &["analytical engine manual"],
        total_cents: 4_200,
    },
    BuiltInOrder {
        order_id: "A-1002",
        customer: "Grace Hopper",
        email: "grace@example.com",
        status: "delayed",
        items: &["compiler handbook", "nanosecond wire"],
        total_cents: 12_950,
    },
    BuiltInOrder {
        order_id: "A-1003",
        customer: "Alan Turing",
        email: "alan@example.com",
        status: "processing",
        items: &["paper tape"],
        total_cents: 799,
    },
];

/// The order ids of the built-in table, for error messages and tests.
pub fn known_order_ids() -> Vec<&'static str> {
    ORDERS.iter().map(|order| order.order_id).collect()
}

/// The built-in orders plus the notes set at run time.
#[derive(Debug, Default)]
pub struct OrderBook {
    notes: Mutex<HashMap<String, String>>,
}

impl OrderBook {
    pub fn lookup(&self, order_id: &str) -> Result<OrderDetails, String> {
        let order = find(order_id)?;
        Ok(OrderDetails {
            order_id: order.order_id.to_owned(),
            customer: order.customer.to_owned(),
            email: order.email.to_owned(),
            status: order.status.to_owned(),
            items: order.items.iter().map(|item| (*item).to_owned()).collect(),
            total_cents: order.total_cents,
            note: self.notes().get(order.order_id).cloned(),
        })
    }

    /// Sets the note of an order; setting the same note again changes nothing.
    pub fn set_note(&self, order_id: &str, note: &str) -> Result<(), String> {
        let order = find(order_id)?;
        self.notes()
            .insert(order.order_id.to_owned(), note.to_owned());
        Ok(())
    }

    fn notes(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // Inserting into a HashMap cannot leave it half-written: a poisoned lock is usable.
        self.notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn find(order_id: &str) -> Result<&'static BuiltInOrder, String> {
    ORDERS
        .iter()
        .find(|order| order.order_id == order_id)
        .ok_or_else(|| {
            format!(
                "no order {order_id:?} (known orders: {})",
                known_order_ids().join(", ")
            )
        })
}
