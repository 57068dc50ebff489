package app

import (
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

// SimulatorOrders is what a simulated agency says of its own: an agency
// whose simulator rule file has a redChannel (the shipped one: customs,
// at gate-in B1) sends cfg.SimulatorRedChannel of the trucks it
// acknowledges to the red channel, and releases each
// cfg.SimulatorReleaseAfter later, so the demo shows a held truck and its
// release.
func SimulatorOrders(rc *sim.RedChannelSpec, cfg config.Config) sim.Orders {
	if rc == nil || cfg.SimulatorRedChannel <= 0 {
		return sim.Orders{}
	}
	return sim.Orders{HoldShare: cfg.SimulatorRedChannel, HoldCheckpoint: rc.Checkpoint, HoldCode: rc.Code,
		HoldText: rc.Text, HoldAfter: rc.HoldAfter, ReleaseAfter: cfg.SimulatorReleaseAfter}
}
