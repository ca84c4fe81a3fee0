//! `orders-example@1.0.0`: the computation steps of the order examples
//! (`components/examples/*.yaml`) and of the sync-order benchmark. It
//! reaches no host: third-party calls in the examples go through the
//! built-in `http` connector.
//!
//! - `total`: `{order_id, items: [{sku, quantity, price}]}` →
//!   `{order_id, item_count, total}`;
//! - `status`: the same order → `{status}`, `"backorder"` if any quantity
//!   is above 10, else `"ok"`;
//! - `invoice-payload`: an order with `customer` → the invoice a fake
//!   accounting API takes: `{reference, customer, lines, amount}`.

use weft_sdk::{Context, Error};

/// Quantities above this put an order on back-order (`status`).
const BACKORDER_ABOVE: u64 = 10;

weft_sdk::types! {
    /// One order line.
    pub struct Item {
        pub sku: String,
        pub quantity: u64,
        pub price: f64,
    }

    /// An order, as webhooks send it.
    pub struct Order {
        #[serde(default)]
        pub order_id: weft_sdk::serde_json::Value,
        pub items: Vec<Item>,
        #[serde(default)]
        pub customer: Option<String>,
    }

    /// Output of `total`.
    pub struct Total {
        pub order_id: weft_sdk::serde_json::Value,
        pub item_count: u64,
        pub total: f64,
    }

    /// Output of `status`.
    pub struct Status {
        pub status: String,
    }

    /// One invoice line.
    pub struct InvoiceLine {
        pub sku: String,
        pub quantity: u64,
        pub unit_price: f64,
        pub amount: f64,
    }

    /// Output of `invoice-payload`.
    pub struct Invoice {
        pub reference: String,
        pub customer: String,
        pub lines: Vec<InvoiceLine>,
        pub amount: f64,
    }
}

/// Rounds to cents, so totals print as money.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn check(order: &Order) -> Result<(), Error> {
    if order.items.is_empty() {
        return Err(Error::invalid_input(
            "items: an order needs at least one item",
        ));
    }
    if let Some(bad) = order
        .items
        .iter()
        .find(|i| !i.price.is_finite() || i.price < 0.0)
    {
        return Err(Error::invalid_input(format!(
            "items: price {} of sku {:?} is not a non-negative number",
            bad.price, bad.sku
        )));
    }
    Ok(())
}

fn total(order: Order, _: &Context) -> Result<Total, Error> {
    check(&order)?;
    Ok(Total {
        item_count: order.items.iter().map(|i| i.quantity).sum(),
        total: cents(
            order
                .items
                .iter()
                .map(|i| i.quantity as f64 * i.price)
                .sum(),
        ),
        order_id: order.order_id,
    })
}

fn status(order: Order, _: &Context) -> Result<Status, Error> {
    let backorder = order.items.iter().any(|i| i.quantity > BACKORDER_ABOVE);
    Ok(Status {
        status: if backorder { "backorder" } else { "ok" }.to_owned(),
    })
}

fn invoice_payload(order: Order, _: &Context) -> Result<Invoice, Error> {
    check(&order)?;
    let customer = order
        .customer
        .clone()
        .ok_or_else(|| Error::invalid_input("customer: an invoice needs the customer's email"))?;
    let lines: Vec<InvoiceLine> = order
        .items
        .iter()
        .map(|i| InvoiceLine {
            sku: i.sku.clone(),
            quantity: i.quantity,
            unit_price: i.price,
            amount: cents(i.quantity as f64 * i.price),
        })
        .collect();
    let reference = match &order.order_id {
        weft_sdk::serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Invoice {
        amount: cents(lines.iter().map(|l| l.amount).sum()),
        reference: format!("INV-{reference}"),
        customer,
        lines,
    })
}

weft_sdk::connector! {
    name: "orders-example",
    version: env!("CARGO_PKG_VERSION"),
    description: "Order totals, stock status and invoice payloads for the order examples and benchmark",
    hosts: [],
    actions: [
        {
            key: "total",
            title: "Total",
            description: "{order_id, items: [{sku, quantity, price}]} -> {order_id, item_count, total}",
            run: total,
        },
        {
            key: "status",
            title: "Status",
            description: "\"backorder\" if any quantity is above 10, else \"ok\"",
            run: status,
        },
        {
            key: "invoice-payload",
            title: "Invoice payload",
            description: "An order with customer -> {reference, customer, lines, amount}",
            run: invoice_payload,
        },
    ],
}
