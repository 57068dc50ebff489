package app

import (
	"time"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/directive"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

// DirectiveRules says which of their own messages each agency may send
// and which agencies receive a forward of each kind: the sends and forward
// of the agency files (deploy/agencies/<code>.yaml).
func DirectiveRules(set *agencies.Set) directive.Rules {
	out := directive.Rules{}
	for _, a := range set.All() {
		r := directive.AgencyRules{Forward: map[directive.Kind][]string{}}
		for _, k := range a.Sends {
			r.Sends = append(r.Sends, directive.Kind(k))
		}
		for k, subs := range a.Forward {
			for _, c := range subs {
				r.Forward[directive.Kind(k)] = append(r.Forward[directive.Kind(k)], string(c))
			}
		}
		out[string(a.Code)] = r
	}
	return out
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
