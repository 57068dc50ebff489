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
// ID/passport, currency, package kind, unit, size/type and container codes
// are upper-cased; direction and cargo kind lower-cased; dots and spaces
// are removed from HS codes ("0810.90" → "081090") and spaces and dashes
// from container numbers; an hsCode of earlier declarations moves to
// hsCodeVN when it has 8 digits and to hsCodeCN when it has 10; plates take
// the canonical form of NormalizePlate — for Vietnamese plates the dot that
// groups serial digits is dropped ("12c 123.45" → "12C-12345"), because
// agencies and gate cameras store the plate without it.
//
// # Code lists
//
// Countries, currencies, package kinds, units, container size/types and
// transport document types are checked against the code lists of
// mappings/codes (Options.Codes; nil means the copy compiled in). An
// unknown code is an "unknown" error whose list member names the list.
//
// # Rules
//
//   - Every string: valid UTF-8, no control, bidi-override or line/paragraph
//     separator characters; at most 256 characters for names, 512 for
//     descriptions and addresses, 64 for everything else (codes, numbers).
//   - trader: name, country (code list country) and taxCode required. The
//     tax code of any party from VN is 10 digits or 10-3 digits
//     (0101234567, 0101234567-001); from CN it is the 18-character unified
//     social credit code (digits and capitals except I, O, Z, S, V) whose
//     last character is its GB 32100-2015 check character.
//   - carrier: optional (absent, the trader carries); when given, as trader.
//   - consignor, consignee: name and country required; taxCode optional but
//     checked as above when given. The load's consignor (consignee) may be
//     left out when every consignment names its own.
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
//   - drivers: 1 to 3; each with name, nationality (code list country),
//     idNumber or passport, and borderPass number and expiresOn; licence
//     optional, with number, country and expiresOn when given.
//   - consignments: 1 to 200, except for cargoKind empty, which must have
//     none. Each lists goodsItems (at most 99) and then needs a
//     transportDocument (type from code list transport-document, 730 for a
//     CMR, and number); or, the single-item form of earlier declarations,
//     carries the goods item fields itself — never both. Its own consignor
//     and consignee are optional, checked as parties.
//   - goods items: hsCodeVN of 8 digits (AHTN) and hsCodeCN of 10, sharing
//     their first 6 (else "mismatch" at hsCodeCN); description; packages
//     ≥ 1; packageKind of 2 capitals or digits in code list package-kind
//     (UN/ECE Rec. 21); grossWeightKg > 0; netWeightKg ≤ grossWeightKg;
//     quantity and quantityUnit (code list unit, UN/ECE Rec. 20) together;
//     value ≥ 0; currency in code list currency (ISO 4217). netWeightKg and
//     originCountry (code list country) are required in goodsItems and
//     optional in the single-item form.
//   - containers: optional, at most 10 per consignment, each an ISO 6346
//     number (owner code, category U, J or Z, 6-digit serial, valid check
//     digit), unique within the consignment; sizeType from code list
//     container-type; a reefer (type group R, e.g. 45R1) needs
//     setTemperatureC between −40 and 30 °C, other containers may not have
//     one; seals beyond seal at most 4, none twice.
//   - The goods' gross weights together may exceed the vehicle's payload
//     (gross − tare) by at most 2% (reported at /consignments).
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
