package declaration

// Declaration is one truck crossing as the trader declares it. JSON field
// names are the paths that mappings/<agency>/*.yaml refer to, so renaming a
// JSON tag is a breaking change for every mapping file.
type Declaration struct {
	Trader                    Party         `json:"trader"`
	CustomsDeclarationNumbers []string      `json:"customsDeclarationNumbers"`
	Direction                 string        `json:"direction"` // export | import | transit
	CargoKind                 string        `json:"cargoKind"` // general | perishable | dangerous | empty
	Gate                      string        `json:"gate"`      // border gate code from deploy/gates
	Lane                      string        `json:"lane,omitempty"`
	PlannedCrossing           string        `json:"plannedCrossing"` // RFC 3339
	Vehicle                   Vehicle       `json:"vehicle"`
	Drivers                   []Driver      `json:"drivers"`
	Consignments              []Consignment `json:"consignments"`
	Consignor                 Party         `json:"consignor"`
	Consignee                 Party         `json:"consignee"`
}

// HSCodes lists the HS code of every consignment, in order (gate policies
// may require agencies by HS chapter).
func (d *Declaration) HSCodes() []string {
	out := make([]string, len(d.Consignments))
	for i, c := range d.Consignments {
		out[i] = c.HSCode
	}
	return out
}

// Party is a trader, consignor or consignee.
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
}

// Consignment is one cargo line on the truck.
type Consignment struct {
	HSCode        string      `json:"hsCode"` // 6 to 10 digits
	Description   string      `json:"description"`
	DescriptionCN string      `json:"descriptionCN,omitempty"`
	Packages      int         `json:"packages"`
	PackageKind   string      `json:"packageKind"` // UN/ECE rec 21 code, e.g. CT, PK, BG
	GrossWeightKg float64     `json:"grossWeightKg"`
	Value         float64     `json:"value"`
	Currency      string      `json:"currency"` // ISO 4217
	Containers    []Container `json:"containers,omitempty"`
}

// Container is a sealed container on the truck.
type Container struct {
	Number string `json:"number"`
	Seal   string `json:"seal,omitempty"`
}
