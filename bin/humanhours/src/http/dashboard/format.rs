//! How the dashboard prints numbers for people: thousands separators, money to the cent with
//! the currency's sign. The exact values (as the API prints them) go into `data-value`.

use rust_decimal::Decimal;

use app::wire::JsonDecimal;

/// `1234567.891` → `1,234,567.891`; the digits are kept as they are.
pub(crate) fn grouped(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// An exact decimal as the API prints it (`2.97`, `0.066`, `45`).
pub(crate) fn exact(n: JsonDecimal) -> String {
    n.0.normalize().to_string()
}

/// A decimal with thousands separators, all its digits kept.
pub(crate) fn number(n: JsonDecimal) -> String {
    grouped(&exact(n))
}

/// Hours for people: two places, always (so a column lines up), with thousands separators.
/// The exact value stays in the element's `data-value`.
pub(crate) fn hours_shown(n: JsonDecimal) -> String {
    let v =
        n.0.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    grouped(&format!("{v:.2}"))
}

/// A whole count with thousands separators.
pub(crate) fn count(n: impl Into<i128>) -> String {
    grouped(&n.into().to_string())
}

/// The sign people know a currency by, or its code.
pub(crate) fn currency_sign(code: &str) -> String {
    match code {
        "EUR" => "€".into(),
        "USD" => "$".into(),
        "GBP" => "£".into(),
        "JPY" => "¥".into(),
        "INR" => "₹".into(),
        other => format!("{other}\u{a0}"),
    }
}

/// Money to the cent: `€1,234.50`, `-€3.51`. Agent costs (kept to 6 places) are shown to the
/// cent too; the exact value is in the CSV and the API.
pub(crate) fn money(n: JsonDecimal, currency: &str) -> String {
    let v =
        n.0.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let neg = v < Decimal::ZERO;
    let text = format!("{:.2}", v.abs());
    format!(
        "{}{}{}",
        if neg { "-" } else { "" },
        currency_sign(currency),
        grouped(&text)
    )
}

/// A share of a whole, `12.3%`.
pub(crate) fn percent(part: i64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    let p = Decimal::from(part) * Decimal::from(100) / Decimal::from(whole);
    format!("{}%", p.round_dp(1).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> JsonDecimal {
        JsonDecimal(s.parse().unwrap())
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(grouped("0"), "0");
        assert_eq!(grouped("999"), "999");
        assert_eq!(grouped("1000"), "1,000");
        assert_eq!(grouped("1234567.891"), "1,234,567.891");
        assert_eq!(grouped("-1234.5"), "-1,234.5");
        assert_eq!(number(d("12.340")), "12.34");
        assert_eq!(hours_shown(d("111.39")), "111.39");
        assert_eq!(hours_shown(d("299.013")), "299.01");
        assert_eq!(hours_shown(d("1234.005")), "1,234.01");
        assert_eq!(hours_shown(d("0")), "0.00");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(money(d("2.97"), "EUR"), "€2.97");
        assert_eq!(money(d("1234.5"), "USD"), "$1,234.50");
        assert_eq!(money(d("-3.51"), "EUR"), "-€3.51");
        assert_eq!(money(d("0.004095"), "CHF"), "CHF\u{a0}0.00");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(0, 0), "–");
    }
}
