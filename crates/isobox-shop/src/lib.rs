//! `shop`: a read-only demo API over customers, products and orders, for showing what Code Mode buys: one program
//! chains several calls, filters and joins in JavaScript, and returns only the small answer.

use std::sync::LazyLock;

use isobox_capabilities::{CallError, Capability};
use serde::{Deserialize, Serialize};

const WIT: &str = include_str!("../../../wit/shop.wit");
const DATA: &str = include_str!("../data/shop.json");

#[derive(Deserialize)]
struct Dataset {
    customers: Vec<Customer>,
    products: Vec<Product>,
    orders: Vec<Order>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    id: u32,
    name: String,
    email: String,
    country: String,
    since: String,
    tier: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    sku: String,
    name: String,
    category: String,
    price: f64,
    stock: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderLine {
    sku: String,
    quantity: u32,
    unit_price: f64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: u32,
    customer_id: u32,
    date: String,
    status: String,
    lines: Vec<OrderLine>,
    total: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderFilter {
    customer_id: Option<u32>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl OrderFilter {
    fn matches(&self, order: &Order) -> bool {
        self.customer_id.is_none_or(|id| order.customer_id == id)
            && self.status.as_ref().is_none_or(|status| &order.status == status)
            && self.since.as_ref().is_none_or(|since| order.date.as_str() >= since.as_str())
            && self.until.as_ref().is_none_or(|until| order.date.as_str() <= until.as_str())
    }
}

static SHOP: LazyLock<Dataset> = LazyLock::new(|| serde_json::from_str(DATA).expect("the shop dataset parses"));

/// The `shop` capability: customers, products and orders from a fixed dataset built into this crate, read-only and
/// the same for every tenant.
///
/// # Panics
/// Never: the WIT and the dataset are part of this crate and its tests load both.
pub fn capability() -> Capability {
    Capability::from_wit("wit/shop.wit", WIT, "shop")
        .expect("wit/shop.wit declares `shop`")
        .func("list-customers", |_, (country,): (Option<String>,)| async move {
            let matches = |c: &&Customer| country.as_ref().is_none_or(|country| &c.country == country);
            Ok::<_, CallError>(SHOP.customers.iter().filter(matches).cloned().collect::<Vec<_>>())
        })
        .func("get-customer", |_, (id,): (u32,)| async move {
            Ok::<_, CallError>(SHOP.customers.iter().find(|c| c.id == id).cloned())
        })
        .func("list-products", |_, (category,): (Option<String>,)| async move {
            let matches = |p: &&Product| category.as_ref().is_none_or(|category| &p.category == category);
            Ok::<_, CallError>(SHOP.products.iter().filter(matches).cloned().collect::<Vec<_>>())
        })
        .func("list-orders", |_, (filter,): (OrderFilter,)| async move {
            Ok::<_, CallError>(SHOP.orders.iter().filter(|order| filter.matches(order)).cloned().collect::<Vec<_>>())
        })
        .func("get-order", |_, (id,): (u32,)| async move {
            SHOP.orders.iter().find(|order| order.id == id).cloned().ok_or_else(|| {
                let reason = format!("no order {id}");
                CallError::with_data(reason.clone(), reason)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobox_capabilities::Capabilities;

    #[test]
    fn the_dataset_loads_and_every_function_is_implemented() {
        assert_eq!(SHOP.customers.len(), 40);
        assert!(SHOP.orders.iter().all(|order| SHOP.customers.iter().any(|c| c.id == order.customer_id)));
        Capabilities::new().register(capability()).expect("shop registers");
    }

    #[test]
    fn order_filters_combine() {
        let filter = OrderFilter {
            customer_id: Some(3),
            status: Some("delivered".into()),
            since: Some("2025-06-01".into()),
            until: None,
        };
        let found: Vec<&Order> = SHOP.orders.iter().filter(|order| filter.matches(order)).collect();
        assert!(!found.is_empty());
        assert!(found.iter().all(|o| o.customer_id == 3 && o.status == "delivered" && o.date.as_str() >= "2025-06-01"));
        let everything = OrderFilter { customer_id: None, status: None, since: None, until: None };
        assert_eq!(SHOP.orders.iter().filter(|order| everything.matches(order)).count(), SHOP.orders.len());
    }
}
