// ECMAScript's Number::toString (ECMA-262 §6.1.6.1.20), which RFC 8785 §3.2.2.3 adopts
// for JSON numbers.

/// The ECMAScript text of a finite double, as UTF-8.
///
/// ECMAScript defines the text from integers n, k, s with k as small as possible,
/// 10^(k-1) ≤ s < 10^k and s × 10^(n-k) = x (the closest such s when several qualify):
/// s's digits are the shortest round-trip digits. Swift's `Double.description` produces
/// exactly those digits (shortest, then closest), so they are taken from it and only the
/// layout is ECMAScript's own.
func ecmaScriptNumber(_ value: Double) -> [UInt8] {
    precondition(value.isFinite, "NaN and infinities have no JSON form")
    if value == 0 { return [UInt8(ascii: "0")] }  // -0 too
    var out: [UInt8] = value < 0 ? [UInt8(ascii: "-")] : []
    let (digits, n) = shortestDigits(of: value.magnitude)
    let k = digits.count
    let zero = UInt8(ascii: "0")
    if k <= n && n <= 21 {
        // An integer: all its digits, then zeros.
        out += digits
        out += repeatElement(zero, count: n - k)
    } else if 0 < n && n <= 21 {
        out += digits[..<n]
        out.append(UInt8(ascii: "."))
        out += digits[n...]
    } else if -6 < n && n <= 0 {
        out += [zero, UInt8(ascii: ".")]
        out += repeatElement(zero, count: -n)
        out += digits
    } else {
        out.append(digits[0])
        if k > 1 {
            out.append(UInt8(ascii: "."))
            out += digits[1...]
        }
        let exponent = n - 1
        out.append(UInt8(ascii: "e"))
        out.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        out += Array(String(exponent.magnitude).utf8)
    }
    return out
}

/// The shortest round-trip decimal digits of a positive finite double (no leading or
/// trailing zeros) and n, the position of the decimal point: value = 0.d₁d₂…dₖ × 10ⁿ.
///
/// Read from `description`, whose forms are `123.45`, `1e-07`, `1.2345e+30`: the digits
/// are the same in every form, only the layout differs.
private func shortestDigits(of value: Double) -> (digits: [UInt8], pointPosition: Int) {
    let text = Array(value.description.utf8)
    var mantissa = text[...]
    var exponent = 0
    if let e = text.firstIndex(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
        mantissa = text[..<e]
        // Forms `+16`, `-07`: Int's parser takes a sign and leading zeros.
        exponent = Int(String(decoding: text[(e + 1)...], as: UTF8.self)) ?? 0
    }
    var digits: [UInt8] = []
    var integerDigits = 0
    var seenPoint = false
    for byte in mantissa {
        if byte == UInt8(ascii: ".") {
            seenPoint = true
        } else {
            digits.append(byte)
            if !seenPoint { integerDigits += 1 }
        }
    }
    var pointPosition = integerDigits + exponent
    let leadingZeros = digits.prefix { $0 == UInt8(ascii: "0") }.count
    digits.removeFirst(leadingZeros)
    pointPosition -= leadingZeros
    while digits.last == UInt8(ascii: "0") { digits.removeLast() }
    return (digits, pointPosition)
}
