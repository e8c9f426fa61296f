package midastest

import (
	"errors"
	"net/http"
	"time"
)

// Fault is a failure to inject into the next Times calls of API.
type Fault struct {
	// API is the API it applies to, in 1.0 and 2.0 alike: "getbalance",
	// "pay", "cancelpay", "present" (midas.APIPay etc.), "queryorderinfo",
	// or APIStableToken; "" for any API.
	API     string
	Times   int           // calls it applies to; 0 means 1
	Errcode int           // answer with this errcode, e.g. -1
	Status  int           // answer with this HTTP status, e.g. 502
	Delay   time.Duration // hold the answer this long
	Drop    bool          // close the connection without an answer
	// Applied processes the request first, so its change stands though the
	// caller sees the failure. Without it a failing call changes nothing.
	// A fault with only a Delay always processes the request.
	Applied bool
	// ApplyAfter holds the request and processes it this long after it
	// arrived, as a request queued inside WeChat that lands after the
	// caller gave up: the caller gets no answer (the connection is closed,
	// after Delay if set; or Errcode or Status, if set), and the change, or
	// the refusal the request meets then, comes later. The access_token,
	// signatures and session are checked on arrival, as WeChat does; the
	// ledger (balance, bill_no) when it lands. Applied is ignored.
	// Calls records the call when it arrives and its outcome when it lands;
	// Pending counts the requests still held. Close drops those not landed.
	ApplyAfter time.Duration
}

// ErrDropped is what Respond returns for a dropped connection.
var ErrDropped = errors.New("midastest: connection dropped without an answer")

type faultSlot struct {
	Fault
	left int
}

// Inject queues f; faults apply in the order they were injected.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultSlot{Fault: f, left: f.Times})
}

// replacesAnswer reports whether f answers in place of the server (an
// errcode, a status or a drop) rather than only delaying the real answer.
func (f *Fault) replacesAnswer() bool {
	return f.Errcode != 0 || f.Status != 0 || f.Drop || f.ApplyAfter > 0
}

// faultResult is the answer under f: res (the real one) replaced by f's
// errcode, status or drop, held for f's delay.
func faultResult(f *Fault, res result) result {
	switch {
	case f.Drop, f.ApplyAfter > 0 && f.Errcode == 0 && f.Status == 0:
		res = result{drop: true}
	case f.Status != 0:
		res = result{status: f.Status, body: []byte(http.StatusText(f.Status))}
	case f.Errcode != 0:
		res = answer(f.Errcode, "injected fault", nil)
	}
	res.delay = f.Delay
	return res
}

// takeFault pops the next fault for api; s.mu is held.
func (s *Server) takeFault(api string) *Fault {
	for i, f := range s.faults {
		if f.API == "" || f.API == api {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			cp := f.Fault
			return &cp
		}
	}
	return nil
}

// applyLater processes a held request after f.ApplyAfter, recording its
// outcome on Calls()[i]; s.mu is held.
func (s *Server) applyLater(f *Fault, i int, process func() outcome) {
	var t *time.Timer
	t = time.AfterFunc(f.ApplyAfter, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, held := s.late[t]; !held {
			return // dropped by Close
		}
		delete(s.late, t)
		o := process()
		c := &s.calls[i]
		c.Env, c.Params, c.Errcode, c.Applied = o.env, o.params, o.errcode, o.applied
		c.Landed = true
	})
	if s.late == nil {
		s.late = map[*time.Timer]bool{}
	}
	s.late[t] = true
}

// Pending reports how many requests held by an ApplyAfter fault have not
// landed yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.late)
}

// dropLate stops every held request from landing.
func (s *Server) dropLate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.late {
		t.Stop()
	}
	s.late = nil
}
