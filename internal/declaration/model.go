package declaration

// Declaration is one truck crossing as the trader declares it. JSON field
// names are the paths that mappings/<agency>/*.yaml refer to, so renaming a
// JSON tag is a breaking change for every mapping file.
type Declaration struct {
	// Trader is the declarant: who lodges the declaration and answers for it.
	Trader Party `json:"trader"`
	// Carrier is the haulier operating the truck. Absent, the trader is the
	// carrier (the only case declarations before 1.1 could express).
	Carrier                   Party         `json:"carrier,omitzero"`
	CustomsDeclarationNumbers []string      `json:"customsDeclarationNumbers"`
	Direction                 string        `json:"direction"` // export | import | transit
	CargoKind                 string        `json:"cargoKind"` // general | perishable | dangerous | empty
	Gate                      string        `json:"gate"`      // border gate code from deploy/gates
	Lane                      string        `json:"lane,omitempty"`
	PlannedCrossing           string        `json:"plannedCrossing"` // RFC 3339
	Vehicle                   Vehicle       `json:"vehicle"`
	Drivers                   []Driver      `json:"drivers"`
	Consignments              []Consignment `json:"consignments"`
	// Consignor and Consignee of the whole load; a consignment may name its
	// own (a consolidated load with several owners), which then applies.
	Consignor Party `json:"consignor,omitzero"`
	Consignee Party `json:"consignee,omitzero"`
}

// HSCodes lists every HS code of the goods, in order (gate policies may
// require agencies by HS chapter): of each goods item its code, Viet Nam's
// and China's, those given.
func (d *Declaration) HSCodes() []string {
	var out []string
	for i := range d.Consignments {
		for _, g := range d.Consignments[i].Items() {
			for _, c := range []string{g.HSCode, g.HSCodeVN, g.HSCodeCN} {
				if c != "" {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// Party is a trader, carrier, consignor or consignee.
type Party struct {
	Name    string `json:"name"`
	NameCN  string `json:"nameCN,omitempty"`
	TaxCode string `json:"taxCode,omitempty"` // VN: 10 or 13 (10-3) digits; CN: 18-char USCC
	Address string `json:"address,omitempty"`
	Country string `json:"country"` // ISO 3166-1 alpha-2
}

// Vehicle is the truck (and trailer) crossing the gate.
type Vehicle struct {
	PlateVN               string      `json:"plateVN,omitempty"` // e.g. 12C-12345
	PlateCN               string      `json:"plateCN,omitempty"` // e.g. 桂A12345
	TrailerPlate          string      `json:"trailerPlate,omitempty"`
	VIN                   string      `json:"vin"`
	GrossWeightKg         float64     `json:"grossWeightKg"`
	TareWeightKg          float64     `json:"tareWeightKg"`
	InspectionCertificate Certificate `json:"inspectionCertificate"`
	CrossBorderPermit     Certificate `json:"crossBorderPermit"`
}

// Certificate is a numbered document with a validity end date.
type Certificate struct {
	Number    string `json:"number"`
	ExpiresOn string `json:"expiresOn"` // ISO date YYYY-MM-DD
}

// Driver is a person driving the truck across.
type Driver struct {
	Name        string      `json:"name"`
	NameCN      string      `json:"nameCN,omitempty"`
	Nationality string      `json:"nationality"` // ISO 3166-1 alpha-2
	IDNumber    string      `json:"idNumber,omitempty"`
	Passport    string      `json:"passport,omitempty"`
	BorderPass  Certificate `json:"borderPass"`
	Licence     Licence     `json:"licence,omitzero"`
}

// Licence is a driving licence: the international (1968 Convention) or
// national licence a cross-border driver presents.
type Licence struct {
	Number    string `json:"number"`
	Country   string `json:"country"`            // issuing country, ISO 3166-1 alpha-2
	Category  string `json:"category,omitempty"` // e.g. C, CE (FC in Viet Nam)
	ExpiresOn string `json:"expiresOn"`
}

// Consignment is the goods of one transport document on the truck.
//
// The goods are either listed in GoodsItems, or — the single-item form of
// declarations before 1.1, still accepted — given by the GoodsItem fields
// of the consignment itself. A consignment never has both.
type Consignment struct {
	GoodsItem
	TransportDocument Document    `json:"transportDocument,omitzero"`
	Consignor         Party       `json:"consignor,omitzero"`
	Consignee         Party       `json:"consignee,omitzero"`
	GoodsItems        []GoodsItem `json:"goodsItems,omitempty"`
	Containers        []Container `json:"containers,omitempty"`
}

// Document is a transport document: CMR road consignment note, waybill.
type Document struct {
	Type   string `json:"type"` // UNCL 1001 code (code list transport-document), 730 for a CMR
	Number string `json:"number"`
}

// GoodsItem is one tariff line of a consignment.
type GoodsItem struct {
	// HSCode is the single HS code of declarations before 1.1. Normalize
	// moves an 8-digit one to HSCodeVN and a 10-digit one to HSCodeCN.
	HSCode        string  `json:"hsCode,omitempty"`
	HSCodeVN      string  `json:"hsCodeVN,omitempty"` // 8 digits, Viet Nam's tariff (AHTN)
	HSCodeCN      string  `json:"hsCodeCN,omitempty"` // 10 digits, China's tariff
	Description   string  `json:"description,omitempty"`
	DescriptionCN string  `json:"descriptionCN,omitempty"`
	OriginCountry string  `json:"originCountry,omitempty"` // ISO 3166-1 alpha-2
	Packages      int     `json:"packages,omitempty"`
	PackageKind   string  `json:"packageKind,omitempty"` // UN/ECE Rec 21 (code list package-kind)
	NetWeightKg   float64 `json:"netWeightKg,omitempty"`
	GrossWeightKg float64 `json:"grossWeightKg,omitempty"`
	// Quantity in the tariff's supplementary unit (UN/ECE Rec 20, code list
	// unit), when the tariff line asks for one.
	Quantity     float64 `json:"quantity,omitempty"`
	QuantityUnit string  `json:"quantityUnit,omitempty"`
	Value        float64 `json:"value,omitempty"`
	Currency     string  `json:"currency,omitempty"` // ISO 4217 (code list currency)
}

// Container is a container on the truck.
type Container struct {
	Number string `json:"number"`
	// SizeType is the ISO 6346 size and type code (code list
	// container-type), e.g. 45G1, 22R1.
	SizeType string `json:"sizeType,omitempty"`
	// Seal is the first seal; Seals lists further ones (a container is
	// often sealed by the shipper and again by customs).
	Seal  string   `json:"seal,omitempty"`
	Seals []string `json:"seals,omitempty"`
	// SetTemperatureC is a reefer's set point, required for reefers.
	SetTemperatureC *float64 `json:"setTemperatureC,omitempty"`
}

// Items returns the consignment's goods items: GoodsItems, or the
// single-item form as one item.
func (c *Consignment) Items() []GoodsItem {
	if len(c.GoodsItems) > 0 || c.GoodsItem == (GoodsItem{}) {
		return c.GoodsItems
	}
	return []GoodsItem{c.GoodsItem}
}
