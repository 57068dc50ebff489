// Package declaration holds the canonical truck-crossing declaration that a
// trader submits once, and its decoding, normalisation and validation.
//
// # Decoding
//
// Decode accepts exactly one JSON object of at most Options.MaxBytes
// (default 256 KiB; larger bodies get 413). Empty bodies, syntax errors
// (reported with their byte offset) and data after the object are
// malformed (400 /problems/malformed-body). Everything else that is wrong
// is collected into one 400 /problems/validation response, each error with
// an RFC 6901 pointer: unknown fields at any depth, field names that only
// match in letter case (encoding/json would accept them), duplicate keys,
// wrong JSON types, and every rule below. At most 100 errors are listed.
//
// # Normalisation
//
// Before validation strings are trimmed; gate, lane, country, tax, VIN,
// ID/passport, currency, package kind and container codes are upper-cased;
// direction and cargo kind lower-cased; dots and spaces are removed from HS
// codes ("0810.90" → "081090") and spaces and dashes from container numbers;
// plates take the canonical form of NormalizePlate — for Vietnamese plates
// the dot that groups serial digits is dropped ("12c 123.45" → "12C-12345"),
// because agencies and gate cameras store the plate without it.
//
// # Rules
//
//   - Every string: valid UTF-8, no control, bidi-override or line/paragraph
//     separator characters; at most 256 characters for names, 512 for
//     descriptions and addresses, 64 for everything else (codes, numbers).
//   - trader: name, country (ISO 3166-1 alpha-2) and taxCode required. The
//     tax code of any party from VN is 10 digits or 10-3 digits
//     (0101234567, 0101234567-001); from CN it is the 18-character unified
//     social credit code (digits and capitals except I, O, Z, S, V). Check
//     digits are not verified: agencies do that against their registries.
//   - consignor, consignee: name and country required; taxCode optional but
//     checked as above when given.
//   - customsDeclarationNumbers: optional, at most 20, each 12 digits,
//     no duplicates.
//   - direction: export | import | transit. cargoKind: general | perishable
//     | dangerous | empty.
//   - gate must be known to Options.Gates; lane, when given, must be a lane
//     of that gate. A nil Gates skips both look-ups.
//   - plannedCrossing: RFC 3339, no earlier than 30 days before and no later
//     than 90 days after Options.Now.
//   - vehicle: plateVN or plateCN (or both). plateVN: 2-digit province,
//     1–2 series letters, an optional series digit, "-", 4 or 5 digits
//     (12C-12345, 29LD-01234, 51F1-12345). plateCN: province abbreviation
//     (京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼), a capital
//     letter, then 5 (6 for new-energy plates) digits or capitals other than
//     I and O (桂A12345). trailerPlate: optional, either format, or a Chinese
//     trailer plate ending in 挂 (桂A1234挂). vin: 17 characters without I,
//     O, Q. 0 < tareWeightKg < grossWeightKg ≤ 60000.
//     inspectionCertificate and crossBorderPermit: number and expiresOn
//     (YYYY-MM-DD) required.
//   - drivers: 1 to 3; each with name, nationality (ISO 3166-1 alpha-2),
//     idNumber or passport, and borderPass number and expiresOn.
//   - consignments: 1 to 200, except for cargoKind empty, which must have
//     none. Each: hsCode of 6 to 10 digits, description, packages ≥ 1,
//     packageKind of 2 capitals or digits (UN/ECE Rec. 21), grossWeightKg
//     > 0, value ≥ 0, currency from the accepted ISO 4217 list; containers
//     optional, at most 10, each an ISO 6346 number (owner code, category U, J or Z,
//     6-digit serial, valid check digit), unique within the consignment.
//     The consignments' gross weights together may exceed the vehicle's
//     payload (gross − tare) by at most 2% (reported at /consignments).
//
// Expiry dates in the past are deliberately not errors here: the issuing
// agency owns each document and answers with a NACK and its own reason
// code, a truck may be declared before a permit is renewed, and a
// declaration once accepted must not become invalid when a clock passes a
// date — amendments are validated with the same rules.
//
// Each field gets at most one error, the first rule it breaks. Elements of
// a list beyond its maximum are not examined: the list is already reported
// as too_many.
//
// Decoding errors of a field (unknown, wrong type, duplicate) suppress the
// rule errors at and below it, since its value could not be read.
package declaration
