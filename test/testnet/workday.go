package testnet

import (
	"math"
	"math/rand/v2"
	"time"
)

// WorkdayConfig is the working-day model (mobility model workday): every
// phone has a home (uniform in the area) and an office (one of Offices
// places, uniform in the area); on weekdays it leaves home to reach the
// office between 8:00 and 10:00 (UTC of the scenario's clock; the model has
// no time zones), stays 7.5–9 h, then with probability EveningFraction
// spends 1–3 h at one of Places evening places (bars, cafés; popularity
// Zipf-like, place k drawn with weight 1/(k+1)) before going home; at
// weekends it stays home but for a 2–4 h afternoon visit to a place with
// probability 2·EveningFraction. It travels in straight lines at
// CommuteSpeed. At a place each phone stands at its own spot within
// Radius (offices and places are where friends who share them meet).
// Schedules are drawn per node and day from the seed, so the model is a
// pure function of time.
type WorkdayConfig struct {
	Offices         int     `toml:"offices"`          // default 10
	Places          int     `toml:"places"`           // evening places, default 20
	CommuteSpeed    float64 `toml:"commute_speed"`    // m/s, default 6 (walking and transit)
	EveningFraction float64 `toml:"evening_fraction"` // default 0.3
	Radius          float64 `toml:"radius"`           // spread at a place, m, default 30
}

type workday struct {
	s       *Scenario
	home    []Point
	office  []int
	offices []Point
	places  []Point
	midnite time.Duration // scenario start → the first UTC midnight at or before it (negative or zero)
	days    []wdDay       // per node: the schedule of the day last asked
}

// wdDay is one node's day: stays at spots between moves.
type wdDay struct {
	day  int
	legs []wdLeg // sorted; between legs the node is at the previous leg's To
}

type wdLeg struct {
	start, end time.Duration // since the scenario start
	from, to   Point
}

func newWorkday(s *Scenario) *workday {
	r := NewRand(s.Seed, "workday")
	cfg := s.Mobility.Workday
	w := &workday{s: s, home: make([]Point, s.Nodes), office: make([]int, s.Nodes), days: make([]wdDay, s.Nodes)}
	for range cfg.Offices {
		w.offices = append(w.offices, uniformPoint(r, s.Mobility.Area))
	}
	for range cfg.Places {
		w.places = append(w.places, uniformPoint(r, s.Mobility.Area))
	}
	for i := range w.home {
		w.home[i] = uniformPoint(r, s.Mobility.Area)
		w.office[i] = r.IntN(cfg.Offices)
		w.days[i].day = math.MinInt
	}
	st := s.Start.UTC()
	mid := time.Date(st.Year(), st.Month(), st.Day(), 0, 0, 0, 0, time.UTC)
	w.midnite = -st.Sub(mid)
	return w
}

// spot is a uniform point within the radius of p.
func spot(r *rand.Rand, p Point, radius float64) Point {
	rad := radius * math.Sqrt(r.Float64())
	th := 2 * math.Pi * r.Float64()
	return Point{p.X + rad*math.Cos(th), p.Y + rad*math.Sin(th)}
}

// schedule draws node n's legs for day d (days since the first midnight).
func (w *workday) schedule(n, d int) []wdLeg {
	cfg := w.s.Mobility.Workday
	r := rand.New(rand.NewPCG(w.s.Seed^0x776f726b646179, uint64(n)<<32|uint64(uint32(d))))
	day0 := w.midnite + time.Duration(d)*24*time.Hour
	at := func(h float64) time.Duration { return day0 + time.Duration(h*float64(time.Hour)) }
	var legs []wdLeg
	pos := w.home[n]
	move := func(leave time.Duration, to Point) time.Duration {
		dur := time.Duration(pos.Dist(to) / cfg.CommuteSpeed * float64(time.Second))
		legs = append(legs, wdLeg{leave, leave + dur, pos, to})
		pos = to
		return leave + dur
	}
	place := func() Point {
		// Zipf-like popularity: weight 1/(k+1).
		var total float64
		for k := range w.places {
			total += 1 / float64(k+1)
		}
		x := r.Float64() * total
		for k, p := range w.places {
			if x -= 1 / float64(k+1); x <= 0 {
				return spot(r, p, cfg.Radius)
			}
		}
		return spot(r, w.places[len(w.places)-1], cfg.Radius)
	}
	wd := w.s.Start.Add(day0 + 12*time.Hour).UTC().Weekday()
	if wd == time.Saturday || wd == time.Sunday {
		if len(w.places) > 0 && r.Float64() < 2*cfg.EveningFraction {
			t := move(at(13+2*r.Float64()), place())
			move(t+time.Duration((2+2*r.Float64())*float64(time.Hour)), w.home[n])
		}
		return legs
	}
	office := spot(r, w.offices[w.office[n]], cfg.Radius)
	arrive := at(8 + 2*r.Float64())
	travel := time.Duration(pos.Dist(office) / cfg.CommuteSpeed * float64(time.Second))
	move(arrive-travel, office)
	leave := arrive + time.Duration((7.5+1.5*r.Float64())*float64(time.Hour))
	if len(w.places) > 0 && r.Float64() < cfg.EveningFraction {
		t := move(leave, place())
		move(t+time.Duration((1+2*r.Float64())*float64(time.Hour)), w.home[n])
	} else {
		move(leave, w.home[n])
	}
	return legs
}

// Positions implements Mobility (any order of t is fine: the model is
// stateless apart from a per-node cache of the current day).
func (w *workday) Positions(t time.Duration, pos []Point) {
	d := int(math.Floor(float64(t-w.midnite) / float64(24*time.Hour)))
	for n := range pos {
		if w.days[n].day != d {
			w.days[n] = wdDay{day: d, legs: w.schedule(n, d)}
		}
		p := w.home[n]
		for _, l := range w.days[n].legs {
			if t < l.start {
				break
			}
			if t >= l.end {
				p = l.to
				continue
			}
			f := float64(t-l.start) / float64(l.end-l.start)
			p = Point{l.from.X + (l.to.X-l.from.X)*f, l.from.Y + (l.to.Y-l.from.Y)*f}
			break
		}
		pos[n] = p
	}
}

// gpsNoise is the error of the positions fed to nodes
// (MobilityConfig.GPSNoise): per node an AR(1) process with standard
// deviation σ per axis and a one-minute correlation time, advanced every
// step for every node (online or not), so it depends on the seed only.
type gpsNoise struct {
	sigma, rho float64
	r          *rand.Rand
	e          []Point
}

// GPSCorrelation is the correlation time of the GPS error: 1 minute.
const GPSCorrelation = time.Minute

func newGPSNoise(s *Scenario) *gpsNoise {
	g := &gpsNoise{sigma: s.Mobility.GPSNoise}
	if g.sigma == 0 {
		return g
	}
	g.rho = math.Exp(-s.Step.Seconds() / GPSCorrelation.Seconds())
	g.r = NewRand(s.Seed, "gps")
	g.e = make([]Point, s.Nodes)
	for i := range g.e {
		g.e[i] = Point{g.sigma * g.r.NormFloat64(), g.sigma * g.r.NormFloat64()}
	}
	return g
}

func (g *gpsNoise) step() {
	if g.sigma == 0 {
		return
	}
	k := g.sigma * math.Sqrt(1-g.rho*g.rho)
	for i := range g.e {
		g.e[i] = Point{g.rho*g.e[i].X + k*g.r.NormFloat64(), g.rho*g.e[i].Y + k*g.r.NormFloat64()}
	}
}

func (g *gpsNoise) apply(i int, p Point) Point {
	if g.sigma == 0 {
		return p
	}
	return Point{p.X + g.e[i].X, p.Y + g.e[i].Y}
}
