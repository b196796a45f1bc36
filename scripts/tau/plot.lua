-- tau.plot: the experiments' figures, drawn by gnuplot (Debian gnuplot-nox). Four kinds —
-- lines (with error bars or shaded bands), grouped bars, scatter coloured by class, heat maps —
-- each as a PNG (pngcairo) or as text in the terminal (term = "dumb"), alone or as a grid of
-- panels. The data go to a temporary file, the commands to a temporary script that gnuplot
-- runs with its output read through a pipe; the PNG is then written atomically.
--
-- Every check happens here, before gnuplot runs: gnuplot itself skips NaN, non-positive values
-- on a log axis and empty data with at most a warning, and a figure quietly missing points is
-- worse than an error.
local tau = require "tau"
local util = require "tau.util"
local plot = {}

-- The gnuplot program; TAU_GNUPLOT or this field point it elsewhere.
plot.gnuplot = os.getenv("TAU_GNUPLOT") or "gnuplot"

-- Okabe & Ito's colour-blind-safe palette (yellow left out: it vanishes on white paper), then
-- three darker colours from Paul Tol's set for ten classes. Each series also gets its own point
-- type and dash type, so curves stay apart in grey print and in the text terminal.
plot.palette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                "#882255", "#999933", "#332288"}
local POINTS = {7, 5, 9, 13, 11, 6, 4, 8, 12, 10}  -- filled circle, square, triangles, diamond, open ones
local DASHES = 5                                     -- gnuplot's dash types 1..5

-- Viridis: light and dark ends differ in luminance, it reads in grey and for colour-blind readers.
local VIRIDIS = {"#440154", "#472D7B", "#3B528B", "#2C728E", "#21908C", "#27AD81", "#5DC863",
                 "#AADC32", "#FDE725"}

local FONT = "DejaVu Sans"  -- has Greek and the mathematical symbols the labels use

-- {====== Errors ======}
-- Checks deep inside raise a Failure; the public entry adds the function's name and re-raises
-- it at the caller's line.
local Failure = {}
local function fail(fmt, ...)
  error(setmetatable({msg = string.format(fmt, ...)}, Failure), 0)
end
-- A failure that concerns the module, not the function called (gnuplot missing).
local function fail_module(fmt, ...)
  error(setmetatable({msg = string.format(fmt, ...), whole = true}, Failure), 0)
end

local function describe(v)
  if type(v) == "string" then return string.format("%q", v) end
  if tau.is_tensor(v) then return "a tensor" end
  return tostring(v)
end

-- {====== Options ======}
-- TODO: use the library's shared option checker once it exists; until then this local check
-- names an unknown key and its nearest valid one, and checks each value's type.

local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = {[0] = i}
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function nearest(key, allowed)
  local best, best_d
  for k in pairs(allowed) do
    local d = distance(key, k)
    if not best_d or d < best_d or (d == best_d and k < best) then best, best_d = k, d end
  end
  return best
end

local function is_integer(v) return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v) and v > -2^53 and v < 2^53) end
local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

local LEGENDS = {outside = true, below = true, ["top left"] = true, ["top right"] = true,
                 ["bottom left"] = true, ["bottom right"] = true, none = true}

-- One checker per value type: returns nothing when v fits, else what was expected.
local TYPES = {
  string = function(v) if type(v) ~= "string" then return "a string" end end,
  boolean = function(v) if type(v) ~= "boolean" then return "true or false" end end,
  table = function(v) if type(v) ~= "table" then return "a table" end end,
  pixels = function(v)
    if not is_integer(v) or v < 100 or v > 20000 then return "a whole number of pixels from 100 to 20000" end
  end,
  positive = function(v) if not finite(v) or v <= 0 then return "a positive number" end end,
  range = function(v)
    if type(v) ~= "table" or not finite(v[1]) or not finite(v[2]) or not (v[1] < v[2]) or v[3] ~= nil then
      return "a pair {lo, hi} of numbers with lo < hi"
    end
  end,
  term = function(v) if v ~= "png" and v ~= "dumb" then return '"png" or "dumb"' end end,
  legend = function(v)
    if not LEGENDS[v] then
      return '"outside", "below", "top left", "top right", "bottom left", "bottom right" or "none"'
    end
  end,
  format = function(v)
    local ok, s = pcall(string.format, v, 1)
    if type(v) ~= "string" or not ok or s == v then return 'a string.format pattern for one number, such as "%.1f"' end
  end,
  layout = function(v)
    if type(v) ~= "table" or not is_integer(v[1]) or not is_integer(v[2]) or v[1] < 1 or v[2] < 1 or v[3] ~= nil then
      return "a pair {rows, cols} of positive whole numbers"
    end
  end,
  values = function() end,  -- arrays and tensors, checked where they are read
}

-- allowed maps each key to a TYPES name; where ("" or "series 2: ") and word ("option" or
-- "field") place the key in the message.
local function check_keys(t, allowed, where, word)
  for k, v in pairs(t) do
    local kind = allowed[k]
    if not kind then
      if type(k) ~= "string" then fail("%s%s names must be strings, got %s", where, word, describe(k)) end
      fail("%sunknown %s '%s' (did you mean '%s'?)", where, word, k, nearest(k, allowed))
    end
    local expected = TYPES[kind](v)
    if expected then fail("%s%s must be %s, got %s", where, k, expected, describe(v)) end
  end
end

-- {====== Values ======}

-- A plain array from a Lua array or a 1-D tensor; what names it in errors ("series 2: x").
local function array(v, what)
  if tau.is_tensor(v) then
    if v:dim() ~= 1 then fail("%s must be 1-D, got a tensor of size [%s]", what, table.concat(v:size(), ", ")) end
    v = v:totable()
  elseif type(v) ~= "table" then
    fail("%s must be an array or a 1-D tensor, got %s", what, type(v))
  end
  local n = #v
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      fail("%s has the key %s: an array's keys are 1..n with no gaps", what, describe(k))
    end
  end
  if n == 0 then fail("%s is empty", what) end
  return v, n
end

-- Finite numbers: a NaN or an infinity names its place.
local function numbers(v, what)
  local a, n = array(v, what)
  for i = 1, n do
    local x = a[i]
    if type(x) ~= "number" then
      fail("%s[%d] is %s, not a number (gaps are not supported: leave the point out of x and y)", what, i, describe(x))
    end
    if x ~= x then fail("%s[%d] is NaN", what, i) end
    if x == math.huge or x == -math.huge then fail("%s[%d] is %s", what, i, x > 0 and "inf" or "-inf") end
  end
  return a, n
end

local function strings(v, what)
  local a, n = array(v, what)
  for i = 1, n do
    if type(a[i]) ~= "string" then fail("%s[%d] must be a string, got %s", what, i, describe(a[i])) end
  end
  return a, n
end

local function same_length(what, name1, n1, name2, n2)
  if n1 ~= n2 then fail("%s%s has %d values, %s has %d", what, name1, n1, name2, n2) end
end

-- {====== gnuplot text ======}

-- A double-quoted gnuplot string; labels go out as plain text (the terminals run noenhanced).
local function q(s)
  s = tostring(s):gsub('[\\"]', "\\%0"):gsub("\n", "\\n")
  return '"' .. s .. '"'
end

local function num(x) return string.format("%.17g", x) end

-- Colour, point type and dash type of series (or class) k. Past the palette's length the
-- colours repeat, each time with other point and dash types, so no two series look the same.
local function style(k)
  local i, round = (k - 1) % #plot.palette, (k - 1) // #plot.palette
  return plot.palette[i + 1], POINTS[(i + 3 * round) % #POINTS + 1], (i + round) % DASHES + 1
end

-- A figure's script and its data: blocks of numbers that the plot commands read by index.
local Job = {}
Job.__index = Job

-- data: the quoted name of the data file the plot commands read.
local function new_job(data) return setmetatable({lines = {}, blocks = {}, data = data}, Job) end

function Job:add(fmt, ...) self.lines[#self.lines + 1] = select("#", ...) > 0 and string.format(fmt, ...) or fmt end

-- rows: array of arrays of numbers; returns the "index N" that selects them.
function Job:block(rows)
  local out = {}
  for i, r in ipairs(rows) do
    local f = {}
    for j, x in ipairs(r) do f[j] = num(x) end
    out[i] = table.concat(f, " ")
  end
  self.blocks[#self.blocks + 1] = table.concat(out, "\n")
  return #self.blocks - 1
end

-- {====== Figure kinds ======}
-- Each kind lists its options and draws one panel from a checked spec.

local COMMON = {title = "string", xlabel = "string", ylabel = "string", legend = "legend"}
local FIGURE = {path = "string", width = "pixels", height = "pixels", term = "term",
                panels = "table", layout = "layout"}

local function keys(extra)
  local t = {}
  for k, v in pairs(COMMON) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

local kinds = {}

-- Settings every panel starts from: reset clears what the previous panel set.
local function panel_preamble(job, s, default_legend)
  job:add("reset")
  job:add("set encoding utf8")
  job:add("set border lw 1 lc rgb '#333333'")
  job:add("set tics nomirror out scale 0.6")
  -- in the text terminal a grid is a field of dots that hides the data
  job:add(job.dumb and "unset grid" or "set grid back lc rgb '#cccccc' lw 1 dt 3")
  job:add("set title %s font ',12'", q(s.title))
  job:add("set xlabel %s", q(s.xlabel or ""))
  -- the text terminal drops rotated text: there the y label goes above the axis, at the left
  if job.dumb then
    job:add("set label %s at screen 0, graph 1 left offset 1, 1", q(s.ylabel or ""))
  else
    job:add("set ylabel %s", q(s.ylabel or ""))
  end
  local legend = s.legend or default_legend
  if legend == "none" then job:add("unset key")
  elseif legend == "outside" then job:add("set key outside right top vertical Left reverse noautotitle samplen 3")
  elseif legend == "below" then job:add("set key below horizontal Left reverse noautotitle samplen 3")
  else job:add("set key inside %s vertical Left reverse noautotitle opaque samplen 3 box lc rgb '#bbbbbb'", legend) end
end

local function need_title(s)
  if not s.title then fail("title is required: every figure says what it shows") end
end

local function need_labels(s)
  if not s.xlabel or not s.ylabel then
    fail("%s is required: every axis says what it measures, with its unit", s.xlabel and "ylabel" or "xlabel")
  end
end

-- Names on the legend: one series needs none, several need one each.
local function check_names(series, word)
  if #series < 2 then return end
  for k, se in ipairs(series) do
    if not se.name then fail("%s %d has no name, and the legend needs one for each of %d %ss", word, k, #series, word) end
  end
end

-- ± error bars from columns 2 (y) and 3 (the size), drawn as vectors with flat caps: gnuplot's
-- own yerrorbars leave a hole where their point would be, which shows on a filled bar.
local function errorbars(job, index, color)
  return string.format("%s index %d using 1:($2-$3):(0):(2*$3) with vectors heads size screen 0.005,90 lc rgb '%s' lw 1.5 notitle",
                       job.data, index, color)
end

local function set_range(job, axis, r)
  if r then job:add("set %srange [%s:%s]", axis, num(r[1]), num(r[2])) end
end

---------------------------------------------------------------------------------------------------
-- lines{series = {{name, x, y, err, lo, hi, style}}, logx, logy, xrange, yrange, xticks}
kinds.lines = {
  keys = keys{series = "table", logx = "boolean", logy = "boolean", xrange = "range", yrange = "range",
              xticks = "values"},
  series_keys = {name = "string", x = "values", y = "values", err = "values", lo = "values", hi = "values",
                 style = "string"},
  legend = "outside",
}

function kinds.lines.check(s)
  need_title(s)
  need_labels(s)
  local series = s.series
  if series == nil then fail("series is required") end
  local _, n_series = array(series, "series")
  local out = {}
  for k = 1, n_series do
    local se = series[k]
    local where = string.format("series %d: ", k)
    if type(se) ~= "table" or tau.is_tensor(se) then fail("series %d must be a table {name =, x =, y =}, got %s", k, describe(se)) end
    check_keys(se, kinds.lines.series_keys, where, "field")
    if se.y == nil then fail("%sy is required", where) end
    local y, n = numbers(se.y, where .. "y")
    local x = {}
    if se.x ~= nil then
      local nx
      x, nx = numbers(se.x, where .. "x")
      same_length(where, "x", nx, "y", n)
    else
      for i = 1, n do x[i] = i end
    end
    local c = {name = se.name, x = x, y = y, n = n, style = se.style or "linespoints"}
    if c.style ~= "linespoints" and c.style ~= "lines" and c.style ~= "points" then
      fail('%sstyle must be "linespoints", "lines" or "points", got %s', where, describe(se.style))
    end
    if se.err ~= nil then
      local e, ne = numbers(se.err, where .. "err")
      same_length(where, "err", ne, "y", n)
      for i = 1, n do if e[i] < 0 then fail("%serr[%d] is %s: error bars are ± a non-negative size", where, i, num(e[i])) end end
      c.err = e
    end
    if (se.lo == nil) ~= (se.hi == nil) then fail("%s%s without %s: a band needs both", where, se.lo and "lo" or "hi", se.lo and "hi" or "lo") end
    if se.lo ~= nil then
      local lo, nlo = numbers(se.lo, where .. "lo")
      local hi, nhi = numbers(se.hi, where .. "hi")
      same_length(where, "lo", nlo, "y", n)
      same_length(where, "hi", nhi, "y", n)
      for i = 1, n do
        if lo[i] > hi[i] then fail("%slo[%d] = %s is above hi[%d] = %s", where, i, num(lo[i]), i, num(hi[i])) end
      end
      c.lo, c.hi = lo, hi
    end
    if s.logy and c.err then
      for i = 1, n do
        if c.y[i] - c.err[i] <= 0 then
          fail("%sy[%d] - err[%d] is %s, below the log axis (logy)", where, i, i, num(c.y[i] - c.err[i]))
        end
      end
    end
    for _, ax in ipairs{{"logx", {"x"}}, {"logy", {"y", "lo", "hi"}}} do
      if s[ax[1]] then
        for _, f in ipairs(ax[2]) do
          for i = 1, c[f] and n or 0 do
            if c[f][i] <= 0 then fail("%s%s[%d] is %s, and %s needs positive values", where, f, i, num(c[f][i]), ax[1]) end
          end
        end
      end
    end
    out[k] = c
  end
  check_names(out, "series")
  if s.logx and s.xrange and s.xrange[1] <= 0 then fail("xrange starts at %s, and logx needs positive values", num(s.xrange[1])) end
  if s.logy and s.yrange and s.yrange[1] <= 0 then fail("yrange starts at %s, and logy needs positive values", num(s.yrange[1])) end
  if s.xticks ~= nil then
    local t, nt = numbers(s.xticks, "xticks")
    for i = 1, nt do
      if s.logx and t[i] <= 0 then fail("xticks[%d] is %s, and logx needs positive values", i, num(t[i])) end
    end
    s.xticks = t
  end
  s.series = out
  return s
end

function kinds.lines.draw(job, s)
  panel_preamble(job, s, kinds.lines.legend)
  if s.logx then job:add("set logscale x") end
  if s.logy then job:add("set logscale y") end
  -- the axes span the data and a margin, so that no marker or error bar sits on the border
  -- (rounding the range out to whole tics would add empty space, or negative accuracies)
  job:add("set autoscale fix")
  job:add("set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05")
  set_range(job, "x", s.xrange)
  set_range(job, "y", s.yrange)
  if s.xticks then
    local t = {}
    for i, v in ipairs(s.xticks) do t[i] = string.format("%s %s", q(string.format("%g", v)), num(v)) end
    job:add("set xtics (%s)", table.concat(t, ", "))
  end
  -- Bands first so lines and points stay on top; bands and error bars have no legend entry of
  -- their own: the series' line carries its name.
  local plots = {}
  local idx = {}
  for k, c in ipairs(s.series) do
    local rows = {}
    for i = 1, c.n do
      rows[i] = {c.x[i], c.y[i], c.err and c.err[i] or 0, c.lo and c.lo[i] or 0, c.hi and c.hi[i] or 0}
    end
    idx[k] = job:block(rows)
  end
  for k, c in ipairs(s.series) do
    if c.lo and job.dumb then
      -- the text terminal cannot shade: each band shows as dots along its two edges
      for col = 4, 5 do
        plots[#plots + 1] = string.format("%s index %d using 1:%d with points pt '.' notitle", job.data, idx[k], col)
      end
    elseif c.lo then
      local color = style(k)
      plots[#plots + 1] = string.format("%s index %d using 1:4:5 with filledcurves lc rgb '%s' fs transparent solid 0.18 noborder notitle",
                                        job.data, idx[k], color)
    end
  end
  for k, c in ipairs(s.series) do
    if c.err then
      local color = style(k)
      plots[#plots + 1] = errorbars(job, idx[k], color)
    end
  end
  for k, c in ipairs(s.series) do
    local color, pt, dt = style(k)
    local title = c.name and ("title " .. q(c.name)) or "notitle"
    local how
    if c.style == "lines" then how = string.format("lines lw 2 dt %d", dt)
    elseif c.style == "points" then how = string.format("points pt %d ps 1.3", pt)
    else
      -- about a dozen markers per curve, however many points it has
      how = string.format("linespoints lw 2 dt %d pt %d ps 1.3 pi %d", dt, pt, math.max(1, c.n // 12))
    end
    plots[#plots + 1] = string.format("%s index %d using 1:2 with %s lc rgb '%s' %s", job.data, idx[k], how, color, title)
  end
  job:add("plot " .. table.concat(plots, ", \\\n  "))
end

---------------------------------------------------------------------------------------------------
-- bars{groups = {...}, series = {{name, y, err}}, marks = {{group, series, text}}, yrange}
kinds.bars = {
  keys = keys{groups = "values", series = "table", marks = "table", yrange = "range"},
  series_keys = {name = "string", y = "values", err = "values"},
  mark_keys = {group = "values", series = "values", text = "string"},
  legend = "outside",
}

function kinds.bars.check(s)
  need_title(s)
  need_labels(s)
  if s.groups == nil then fail("groups is required (the names under each group of bars)") end
  local groups, ng = strings(s.groups, "groups")
  if s.series == nil then fail("series is required") end
  local _, ns = array(s.series, "series")
  local out = {}
  for k = 1, ns do
    local se = s.series[k]
    local where = string.format("series %d: ", k)
    if type(se) ~= "table" or tau.is_tensor(se) then fail("series %d must be a table {name =, y =}, got %s", k, describe(se)) end
    check_keys(se, kinds.bars.series_keys, where, "field")
    if se.y == nil then fail("%sy is required", where) end
    local y, n = numbers(se.y, where .. "y")
    if n ~= ng then fail("%sy has %d values, groups has %d", where, n, ng) end
    local c = {name = se.name, y = y}
    if se.err ~= nil then
      local e, ne = numbers(se.err, where .. "err")
      same_length(where, "err", ne, "y", n)
      for i = 1, n do if e[i] < 0 then fail("%serr[%d] is %s: error bars are ± a non-negative size", where, i, num(e[i])) end end
      c.err = e
    end
    out[k] = c
  end
  check_names(out, "series")
  local marks = {}
  if s.marks ~= nil then
    local m, nm = array(s.marks, "marks")
    for i = 1, nm do
      local mk = m[i]
      if type(mk) ~= "table" or tau.is_tensor(mk) then fail("marks[%d] must be a table {group =, series =, text =}, got %s", i, describe(mk)) end
      check_keys(mk, kinds.bars.mark_keys, string.format("marks[%d]: ", i), "field")
      if not is_integer(mk.group) or mk.group < 1 or mk.group > ng then
        fail("marks[%d]: group must be a whole number from 1 to %d, got %s", i, ng, describe(mk.group))
      end
      if not is_integer(mk.series) or mk.series < 1 or mk.series > ns then
        fail("marks[%d]: series must be a whole number from 1 to %d, got %s", i, ns, describe(mk.series))
      end
      if not mk.text then fail("marks[%d]: text is required", i) end
      marks[i] = {group = math.tointeger(mk.group), series = math.tointeger(mk.series), text = mk.text}
    end
  end
  s.groups, s.series, s.marks = groups, out, marks
  return s
end

function kinds.bars.draw(job, s)
  panel_preamble(job, s, kinds.bars.legend)
  local ng, ns = #s.groups, #s.series
  local w = 0.8 / ns
  local function xpos(g, k) return g + (k - (ns + 1) / 2) * w end
  -- The y range always holds 0 (bars start there) and leaves room for the marks' text.
  local lo, hi = 0, 0
  for _, c in ipairs(s.series) do
    for g = 1, ng do
      local e = c.err and c.err[g] or 0
      lo, hi = math.min(lo, c.y[g] - e), math.max(hi, c.y[g] + e)
    end
  end
  local span = hi - lo > 0 and hi - lo or 1
  local pad = span * (#s.marks > 0 and 0.12 or 0.05)
  set_range(job, "y", s.yrange or {lo < 0 and lo - pad or 0, hi > 0 and hi + pad or pad})
  job:add("set xrange [0.5:%s]", num(ng + 0.5))
  local tics = {}
  for g, name in ipairs(s.groups) do tics[g] = string.format("%s %d", q(name), g) end
  job:add("set xtics (%s) scale 0", table.concat(tics, ", "))
  if not job.dumb then job:add("set grid noxtics ytics") end
  job:add("set xzeroaxis lt -1 lw 1")
  job:add("set boxwidth %s absolute", num(w * 0.92))
  for _, m in ipairs(s.marks) do
    -- beyond the end of the bar and of its error bar
    local c = s.series[m.series]
    local y, e = c.y[m.group], c.err and c.err[m.group] or 0
    job:add("set label %s at %s, %s center offset 0, %s front", q(m.text), num(xpos(m.group, m.series)),
            num(y >= 0 and y + e or y - e), y >= 0 and "0.8" or "-0.8")
  end
  local plots = {}
  for k, c in ipairs(s.series) do
    local rows = {}
    for g = 1, ng do rows[g] = {xpos(g, k), c.y[g], c.err and c.err[g] or 0} end
    local i = job:block(rows)
    local color = style(k)
    plots[#plots + 1] = string.format("%s index %d using 1:2 with boxes fs solid 0.85 border lc rgb '#333333' lc rgb '%s' %s",
                                      job.data, i, color, c.name and ("title " .. q(c.name)) or "notitle")
    if c.err then
      plots[#plots + 1] = errorbars(job, i, "#000000")
    end
  end
  job:add("plot " .. table.concat(plots, ", \\\n  "))
end

---------------------------------------------------------------------------------------------------
-- scatter{x, y, class = {1..K}, class_names = {...}, pointsize}
kinds.scatter = {
  keys = keys{x = "values", y = "values", class = "values", class_names = "values", pointsize = "positive"},
  legend = "outside",
}

function kinds.scatter.check(s)
  need_title(s)
  if s.x == nil or s.y == nil then fail("x and y are required") end
  local x, n = numbers(s.x, "x")
  local y, ny = numbers(s.y, "y")
  same_length("", "x", n, "y", ny)
  local class = {}
  local k_max = 1
  if s.class ~= nil then
    local c, nc = numbers(s.class, "class")
    same_length("", "class", nc, "x", n)
    for i = 1, n do
      if not is_integer(c[i]) or c[i] < 1 then fail("class[%d] is %s: classes are whole numbers 1..K", i, num(c[i])) end
      class[i] = math.tointeger(c[i])
      k_max = math.max(k_max, class[i])
    end
  else
    for i = 1, n do class[i] = 1 end
  end
  local names
  if s.class_names ~= nil then
    local nn
    names, nn = strings(s.class_names, "class_names")
    if k_max > nn then
      for i = 1, n do
        if class[i] > nn then fail("class[%d] is %d, but class_names has only %d names", i, class[i], nn) end
      end
    end
  elseif s.class ~= nil then
    names = {}
    for k = 1, k_max do names[k] = "class " .. k end
  end
  s.x, s.y, s.class, s.class_names, s.n = x, y, class, names, n
  return s
end

function kinds.scatter.draw(job, s)
  panel_preamble(job, s, kinds.scatter.legend)
  local by = {}
  for i = 1, s.n do
    local k = s.class[i]
    by[k] = by[k] or {}
    by[k][#by[k] + 1] = {s.x[i], s.y[i]}
  end
  job:add("set autoscale fix")
  job:add("set offsets graph 0.04, graph 0.04, graph 0.04, graph 0.04")
  local plots = {}
  local ps = s.pointsize or (s.n > 1000 and 0.7 or s.n > 200 and 0.9 or 1.2)
  -- a class keeps its colour and shape across panels, even in a panel where it has no points
  for k = 1, (s.class_names and #s.class_names or 1) do
    if by[k] then
      local color, pt = style(k)
      plots[#plots + 1] = string.format("%s index %d using 1:2 with points pt %d ps %s lc rgb '%s' notitle",
                                        job.data, job:block(by[k]), pt, num(ps), color)
      -- the legend's marker at a readable size, whatever the size of the points
      if s.class_names then
        plots[#plots + 1] = string.format("keyentry with points pt %d ps 1.5 lc rgb '%s' title %s", pt, color,
                                          q(s.class_names[k]))
      end
    end
  end
  job:add("plot " .. table.concat(plots, ", \\\n  "))
end

---------------------------------------------------------------------------------------------------
-- heatmap{z = {{row 1}, {row 2}}, xticks, yticks, cblabel, format, zrange}
kinds.heatmap = {
  keys = keys{z = "values", xticks = "values", yticks = "values", cblabel = "string", format = "format",
              zrange = "range"},
  legend = "none",
}
kinds.heatmap.keys.legend = nil  -- the colour box is its legend

function kinds.heatmap.check(s)
  need_title(s)
  need_labels(s)
  if not s.cblabel then fail("cblabel is required: the colour scale says what it measures, with its unit") end
  if s.z == nil then fail("z is required (an array of rows, or a 2-D tensor)") end
  local z = s.z
  if tau.is_tensor(z) then
    if z:dim() ~= 2 then fail("z must be 2-D, got a tensor of size [%s]", table.concat(z:size(), ", ")) end
    z = z:totable()
  end
  local _, nr = array(z, "z")
  local rows, nc = {}, nil
  for r = 1, nr do
    local row, n = numbers(z[r], "z[" .. r .. "]")
    if nc and n ~= nc then fail("z[%d] has %d values, z[1] has %d: rows must have the same length", r, n, nc) end
    nc = n
    rows[r] = row
  end
  local function ticks(v, name, n, what)
    if v == nil then
      local t = {}
      for i = 1, n do t[i] = tostring(i) end
      return t
    end
    local t, nt = strings(v, name)
    if nt ~= n then fail("%s has %d names, z has %d %s", name, nt, n, what) end
    return t
  end
  if s.format then
    for r, row in ipairs(rows) do
      for c, v in ipairs(row) do
        local ok, err = pcall(string.format, s.format, v)
        if not ok then fail("format '%s' cannot print z[%d][%d] = %s (%s)", s.format, r, c, num(v), err) end
      end
    end
  end
  s.xticks = ticks(s.xticks, "xticks", nc, "columns")
  s.yticks = ticks(s.yticks, "yticks", nr, "rows")
  s.z, s.nr, s.nc = rows, nr, nc
  return s
end

function kinds.heatmap.draw(job, s, term)
  panel_preamble(job, s, kinds.heatmap.legend)
  local lo, hi = math.huge, -math.huge
  for _, row in ipairs(s.z) do for _, v in ipairs(row) do lo, hi = math.min(lo, v), math.max(hi, v) end end
  if s.zrange then lo, hi = s.zrange[1], s.zrange[2] end
  if lo == hi then lo, hi = lo - 1, hi + 1 end  -- one value everywhere: any colour is that value
  local stops = {}
  for i, c in ipairs(VIRIDIS) do stops[i] = string.format("%d '%s'", i - 1, c) end
  job:add("set palette defined (%s)", table.concat(stops, ", "))
  job:add("set cbrange [%s:%s]", num(lo), num(hi))
  job:add("set cblabel %s", q(s.cblabel))
  if job.dumb then  -- no colours there: the cells show their values, and a label says what they are
    job:add("unset colorbox")
    job:add("set label %s at graph 1, graph 1 right offset 0, 1", q("values: " .. s.cblabel))
  end
  job:add("set grid noxtics noytics")
  job:add("set tics scale 0")
  job:add("set xrange [0.5:%s]", num(s.nc + 0.5))
  job:add("set yrange [%s:0.5]", num(s.nr + 0.5))  -- row 1 on top, as in a table
  local xt, yt = {}, {}
  for i, t in ipairs(s.xticks) do xt[i] = string.format("%s %d", q(t), i) end
  for i, t in ipairs(s.yticks) do yt[i] = string.format("%s %d", q(t), i) end
  job:add("set xtics (%s)", table.concat(xt, ", "))
  job:add("set ytics (%s)", table.concat(yt, ", "))
  -- The text terminal cannot draw colours, so there each cell shows its value.
  local format = s.format or (term == "dumb" and "%.3g" or nil)
  if format then
    for r, row in ipairs(s.z) do
      for c, v in ipairs(row) do
        -- light text on viridis' dark end, dark text on its light end
        local t = (math.max(lo, math.min(hi, v)) - lo) / (hi - lo)
        job:add("set label %s at %d, %d center front tc rgb '%s'", q(string.format(format, v)), c, r,
                t < 0.55 and "#ffffff" or "#000000")
      end
    end
  end
  local rows = {}
  for r, row in ipairs(s.z) do
    for c, v in ipairs(row) do rows[#rows + 1] = {c, r, v} end
  end
  job:add("plot %s index %d using 1:2:3 with image pixels notitle", job.data, job:block(rows))
end

-- {====== Running gnuplot ======}

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Temporary files that go when the figure is done, whether it succeeded or not.
local function temp_files()
  return setmetatable({}, {__close = function(t) for _, p in ipairs(t) do os.remove(p) end end,
                           __index = {new = function(t)
                             local p = os.tmpname()
                             t[#t + 1] = p
                             return p
                           end}})
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Runs the script; returns what gnuplot printed (the dumb terminal's drawing).
local function run_gnuplot(script, tmp)
  local script_path, err_path = tmp:new(), tmp:new()
  write(script_path, script)
  local p = io.popen(string.format("%s %s 2>%s", sh_quote(plot.gnuplot), sh_quote(script_path), sh_quote(err_path)), "r")
  if not p then fail_module("tau.plot: cannot start %s", plot.gnuplot) end
  local out = p:read("a")
  local _, how, code = p:close()
  local err = util.read_file(err_path) or ""
  err = err:gsub("%s+$", "")
  if how == "exit" and (code == 127 or code == 126) then
    fail_module("tau.plot: gnuplot not found (install the Debian package gnuplot-nox)%s",
                plot.gnuplot == "gnuplot" and "" or string.format("; the command was '%s'", plot.gnuplot))
  end
  if how ~= "exit" or code ~= 0 then
    fail("gnuplot failed (%s %s): %s", how, tostring(code), err ~= "" and err or "no message")
  end
  -- A warning means points were dropped or a setting refused: the figure would not show the data.
  local warning = err:match('[^\n]*line %d+: warning:[^\n]*')
  if warning then fail("gnuplot warned: %s", warning) end
  return out
end

-- The checked specs of a figure's panels, each with the figure's other fields as defaults, and
-- the grid's rows and columns.
local function panel_specs(kind, spec)
  if not spec.title then fail("title is required: every figure says what it shows") end
  local panels, np = array(spec.panels, "panels")
  local own = {}
  for k, v in pairs(kind.keys) do own[k] = v end
  local specs = {}
  for i = 1, np do
    local p = panels[i]
    if type(p) ~= "table" or tau.is_tensor(p) then fail("panels[%d] must be a table of options, got %s", i, describe(p)) end
    for k in pairs(FIGURE) do
      if p[k] ~= nil then fail("panel %d: %s belongs to the whole figure, not to a panel", i, k) end
    end
    local merged = {}
    for k, v in pairs(spec) do if not FIGURE[k] and k ~= "title" then merged[k] = v end end
    for k, v in pairs(p) do merged[k] = v end
    merged.title = p.title
    specs[i] = {p = p, merged = merged}
  end
  for i, t in ipairs(specs) do
    local ok, e = pcall(function()
      check_keys(t.p, own, "", "option")
      return kind.check(t.merged)
    end)
    if not ok then
      if getmetatable(e) == Failure then e.msg = string.format("panel %d: %s", i, e.msg) end
      error(e, 0)
    end
    specs[i] = e
  end
  local rows, cols
  if spec.layout then
    rows, cols = math.tointeger(spec.layout[1]), math.tointeger(spec.layout[2])
    if rows * cols < np then fail("layout {%d, %d} has %d places for %d panels", rows, cols, rows * cols, np) end
  else
    cols = math.ceil(math.sqrt(np))
    rows = math.ceil(np / cols)
  end
  return specs, rows, cols
end

local function figure(kind_name, spec)
  local kind = kinds[kind_name]
  if type(spec) ~= "table" then fail("expects a table of options, got %s", type(spec)) end
  local all = {}
  for k, v in pairs(kind.keys) do all[k] = v end
  for k, v in pairs(FIGURE) do all[k] = v end
  check_keys(spec, all, "", "option")
  if spec.layout and not spec.panels then fail("layout needs panels") end
  local specs, rows, cols
  if spec.panels then
    specs, rows, cols = panel_specs(kind, spec)
  else
    local copy = {}  -- the checks normalise fields in place; the caller's table stays as it was
    for k, v in pairs(spec) do copy[k] = v end
    specs, rows, cols = {kind.check(copy)}, 1, 1
  end
  local term = spec.term or "png"
  if term == "png" and not spec.path then
    fail('path is required for term "png" (or pass term = "dumb" to draw in the terminal)')
  end
  if term == "png" and not spec.path:lower():match("%.png$") then
    fail('path must end in .png for term "png", got %s', describe(spec.path))
  end

  local width = math.tointeger(spec.width or 800 * cols)
  local height = math.tointeger(spec.height or 500 * rows)
  local tmp <close> = temp_files()
  local data_path = tmp:new()
  local job = new_job(q(data_path))
  job.dumb = term == "dumb"
  local out_path
  if term == "dumb" then
    -- pixels become characters of about 10 by 20 pixels: 800 x 500 is 80 x 25
    job:add("set terminal dumb size %d, %d nofeed noenhanced", width // 10, height // 20)
  else
    out_path = tmp:new()
    job:add("set terminal pngcairo size %d, %d font '%s,10' noenhanced", width, height, FONT)
    job:add("set output %s", q(out_path))
  end
  job:add("set encoding utf8")
  if spec.panels then job:add("set multiplot layout %d, %d title %s font ',13'", rows, cols, q(spec.title)) end
  for _, s in ipairs(specs) do kind.draw(job, s, term) end
  if spec.panels then job:add("unset multiplot") end
  if term ~= "dumb" then job:add("set output") end
  write(data_path, table.concat(job.blocks, "\n\n\n") .. "\n")
  local text = run_gnuplot(table.concat(job.lines, "\n") .. "\n", tmp)

  if term == "dumb" then
    -- Printed, or written and returned: printing and returning both would show the figure twice
    -- in the REPL, which prints what a call returns.
    if not spec.path then io.write(text) return end
    util.write_file(spec.path, text)
    return text
  end
  local png = util.read_file(out_path)
  if not png or png:sub(1, 8) ~= "\137PNG\r\n\26\n" then fail("gnuplot wrote no PNG image") end
  util.write_file(spec.path, png)
  return spec.path
end

-- Public entries: errors raised while checking or drawing name the function and point at the
-- caller's line.
local function entry(kind_name)
  local fn = "tau.plot." .. kind_name
  return function(spec)
    local ok, res = pcall(figure, kind_name, spec)
    if ok then return res end
    if getmetatable(res) == Failure then
      error(res.whole and res.msg or (fn .. ": " .. res.msg), 2)
    end
    error(res, 0)
  end
end

plot.lines = entry("lines")
plot.bars = entry("bars")
plot.scatter = entry("scatter")
plot.heatmap = entry("heatmap")

return plot
