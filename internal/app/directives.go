package app

import (
	"time"

	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/directive"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// DirectiveRules says which of their own messages each agency may send
// and which agencies receive a forward of each kind. A table here until
// agencies are data files (deploy/agencies/<code>.yaml: sends, forward),
// when this becomes their reading; nothing else names an agency's rules.
func DirectiveRules() directive.Rules {
	return directive.Rules{
		// The red channel: a physical inspection at a checkpoint, its
		// release; the border guard must know where the truck stands.
		"customs": {
			Sends:   []directive.Kind{directive.Hold, directive.Release, directive.Revoke},
			Forward: map[directive.Kind][]string{directive.Hold: {"borderguard"}, directive.Revoke: {"borderguard"}},
		},
		// A driver barred from crossing, a hold at the border marker.
		"borderguard": {
			Sends:   []directive.Kind{directive.Hold, directive.Release, directive.Revoke},
			Forward: map[directive.Kind][]string{directive.Revoke: {"customs"}},
		},
		// A revoked cross-border permit concerns customs and the border
		// guard alike.
		"vehicleregistry": {
			Sends:   []directive.Kind{directive.Revoke},
			Forward: map[directive.Kind][]string{directive.Revoke: {"customs", "borderguard"}},
		},
		// The Chinese side's record of the truck at its gate.
		"guangxi": {
			Sends:   []directive.Kind{directive.CrossingConfirmed},
			Forward: map[directive.Kind][]string{directive.CrossingConfirmed: {"customs", "borderguard"}},
		},
	}
}

// SimulatorOrders is what a simulated agency says of its own: the
// simulated customs sends cfg.SimulatorRedChannel of the trucks to the red
// channel, held at gate-in (B1) two seconds after its ACK and released
// cfg.SimulatorReleaseAfter later, so the demo shows a held truck and its
// release.
func SimulatorOrders(agency string, cfg config.Config) sim.Orders {
	if agency != "customs" || cfg.SimulatorRedChannel <= 0 {
		return sim.Orders{}
	}
	return sim.Orders{HoldShare: cfg.SimulatorRedChannel, HoldCheckpoint: "B1", HoldCode: "CUS-RED-CHANNEL",
		HoldText: "physical inspection / kiểm tra thực tế", HoldAfter: 2 * time.Second, ReleaseAfter: cfg.SimulatorReleaseAfter}
}
