-- tau.plot: each kind of figure writes a PNG of the asked size, draws as text in the terminal,
-- works as a grid of panels, and refuses bad input, a missing gnuplot and a failing one with a
-- message that says what went wrong, leaving no temporary file and no half-written figure.
local T = ...
package.path = "tests/lua/?.lua;" .. package.path
local fx = require "fixtures"
local plot = tau.plot

local tmp = fx.root()
local function path(name) return tmp .. "/" .. name end

local function have_gnuplot()
  return fx.sh("command -v " .. fx.quote(plot.gnuplot) .. " >/dev/null 2>&1")
end
local function need_gnuplot()
  if not have_gnuplot() then T.skip("gnuplot not found as '" .. plot.gnuplot .. "' (Debian package gnuplot-nox)") end
end

-- Width and height from a PNG's IHDR chunk, after checking the signature.
local function png_size(p)
  local bytes = fx.read(p)
  T.ok(bytes, p .. " was written")
  T.eq(bytes:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
  T.eq(bytes:sub(13, 16), "IHDR", "first chunk")
  return string.unpack(">I4I4", bytes, 17)
end

local TAUS = {0.1, 0.5, 1, 5, 50}
local function lines_spec(o)
  local s = {title = "Clean accuracy vs τ", xlabel = "τ (log scale)", ylabel = "accuracy (%)", logx = true,
             series = {{name = "CNN", x = TAUS, y = {80, 88, 90, 86, 70}, err = {1, 1, 0.5, 2, 3}},
                       {name = "ViT", x = TAUS, y = {75, 82, 85, 80, 60}, lo = {73, 80, 83, 77, 55},
                        hi = {77, 84, 87, 83, 65}}}}
  for k, v in pairs(o or {}) do s[k] = v end
  return s
end
local function bars_spec(o)
  local s = {title = "Logits before and after PGD", xlabel = "class", ylabel = "logit",
             groups = {"T-shirt", "Trouser", "Dress"},
             series = {{name = "before PGD", y = {3, -1, 0.5}}, {name = "after PGD", y = {1, 0.2, 2}}},
             marks = {{group = 1, series = 1, text = "pred"}, {group = 3, series = 2, text = "pred"}}}
  for k, v in pairs(o or {}) do s[k] = v end
  return s
end
local function scatter_spec(o)
  local s = {title = "Embedding of three clusters", xlabel = "t-SNE 1", ylabel = "t-SNE 2",
             x = {0, 0.2, 5, 5.1, 10, 9.8}, y = {0, 0.3, 5, 4.8, 0, 0.1}, class = {1, 1, 2, 2, 3, 3},
             class_names = {"T-shirt", "Trouser", "Pullover"}}
  for k, v in pairs(o or {}) do s[k] = v end
  return s
end
local function heatmap_spec(o)
  local s = {title = "Accuracy per corruption", xlabel = "severity", ylabel = "corruption",
             xticks = {"1", "2", "3"}, yticks = {"fog", "snow"}, z = {{90, 80, 70}, {85, 60, 40}},
             cblabel = "accuracy (%)", format = "%.1f"}
  for k, v in pairs(o or {}) do s[k] = v end
  return s
end
local SPECS = {lines = lines_spec, bars = bars_spec, scatter = scatter_spec, heatmap = heatmap_spec}

-- Every temporary file the module makes, so that a test can check they are gone.
local function track_tmpnames(fn)
  local made, real = {}, os.tmpname
  os.tmpname = function() local p = real(); made[#made + 1] = p; return p end
  local ok, err = pcall(fn)
  os.tmpname = real
  return made, ok, err
end

for _, kind in ipairs{"lines", "bars", "scatter", "heatmap"} do
  T.test(kind .. " writes a PNG of the asked size and of the default size", function()
    need_gnuplot()
    local p = path(kind .. ".png")
    T.eq(plot[kind](SPECS[kind]{path = p, width = 640, height = 360}), p, "returns the path")
    local w, h = png_size(p)
    T.eq(w, 640, "width"); T.eq(h, 360, "height")
    plot[kind](SPECS[kind]{path = p})
    w, h = png_size(p)
    T.eq(w, 800, "default width"); T.eq(h, 500, "default height")
  end)

  T.test(kind .. " draws in the terminal with term = 'dumb', or writes and returns the text", function()
    need_gnuplot()
    local spec = SPECS[kind]{term = "dumb", title = kind .. " figure of τ"}
    local out_path = path(kind .. ".txt")
    local saved = io.output()
    io.output(out_path)                    -- with no path the drawing is printed
    local ok, res = pcall(plot[kind], spec)
    io.output():close()
    io.output(saved)
    T.ok(ok, tostring(res))
    T.eq(res, nil, "printed, not returned (the REPL would print it twice)")
    local printed = fx.read(out_path)
    T.ok(printed:find(kind .. " figure of τ", 1, true), "the drawing holds the title")
    T.ok(select(2, printed:gsub("\n", "")) >= 20, "the drawing has the terminal's 25 lines")
    local file = path(kind .. "-dumb.txt")
    local text = plot[kind](SPECS[kind]{term = "dumb", path = file, title = "to a file"})
    T.ok(text:find("to a file", 1, true), "the returned text holds the title")
    T.eq(fx.read(file), text, "written to path")
  end)

  T.test(kind .. " draws a grid of panels, the figure's fields serving as defaults", function()
    need_gnuplot()
    local one, two = SPECS[kind]{title = "left τ"}, SPECS[kind]{title = "right"}
    local fields = {}
    for k, v in pairs(one) do if k ~= "title" then fields[k] = v end end
    two = {title = "right"}                 -- the second panel inherits the rest
    local p = path(kind .. "-panels.png")
    local spec = {title = "Two panels", panels = {one, two}, layout = {1, 2}, path = p}
    for k, v in pairs(fields) do spec[k] = v end
    plot[kind](spec)
    local w, h = png_size(p)
    T.eq(w, 1600, "width: two default panels side by side"); T.eq(h, 500, "height")
    spec.path, spec.width, spec.height = p, 900, 300
    plot[kind](spec)
    w, h = png_size(p)
    T.eq(w, 900, "asked width"); T.eq(h, 300, "asked height")
    spec.path, spec.width, spec.height, spec.term = nil, nil, nil, "dumb"
    local saved = io.output()
    io.output(path("panels.txt"))
    local ok, err = pcall(plot[kind], spec)
    io.output():close()
    io.output(saved)
    T.ok(ok, tostring(err))
    local text = fx.read(path("panels.txt"))
    for _, t in ipairs{"Two panels", "left τ", "right"} do T.ok(text:find(t, 1, true), "the text holds " .. t) end
  end)
end

T.test("values may be 1-D tensors, and the caller's tables are left as they were", function()
  need_gnuplot()
  local spec = lines_spec{path = path("tensors.png"),
    series = {{name = "CNN", x = tau.tensor(TAUS), y = tau.tensor{80, 88, 90, 86, 70}, err = tau.tensor{1, 1, 1, 1, 1}}}}
  plot.lines(spec)
  T.ok(tau.is_tensor(spec.series[1].x), "series untouched")
  plot.lines(spec)                          -- the same table draws again
  png_size(spec.path)
  plot.scatter(scatter_spec{path = path("tensors2.png"), x = tau.tensor{1, 2, 3}, y = tau.tensor{1, 4, 9},
                            class = tau.tensor({1, 2, 2}, "int32"), class_names = {"a", "b"}})
  png_size(path("tensors2.png"))
  plot.heatmap(heatmap_spec{path = path("tensors3.png"), z = tau.tensor{{1, 2, 3}, {4, 5, 6}}})
  png_size(path("tensors3.png"))
end)

T.test("the text terminal shows a heat map's values and a series without x against 1..n", function()
  need_gnuplot()
  local text = plot.heatmap(heatmap_spec{term = "dumb", path = path("heat.txt"), format = nil, z = {{91.25, 80, 70}, {85, 60, 40}}})
  T.ok(text:find("91.2", 1, true), "a cell's value printed with the default %.3g format")
  T.ok(text:find("values: accuracy (%)", 1, true), "the colour scale's label")
  text = plot.lines{term = "dumb", path = path("nox.txt"), title = "no x", xlabel = "step", ylabel = "loss",
                    series = {{y = {5, 4, 3, 2}}}}
  T.ok(text:find("no x", 1, true) and text:find(" 4 ", 1, true), "x runs 1..4")
end)

T.test("temporary files are removed, after success and after an error", function()
  need_gnuplot()
  local made, ok, err = track_tmpnames(function() plot.lines(lines_spec{path = path("t.png")}) end)
  T.ok(ok, tostring(err))
  T.ok(#made >= 3, "data, script and image went to temporary files")
  for _, p in ipairs(made) do T.ok(not fx.exists(p), p .. " removed") end
  local saved = plot.gnuplot
  plot.gnuplot = "false"
  made, ok = track_tmpnames(function() plot.lines(lines_spec{path = path("t.png")}) end)
  plot.gnuplot = saved
  T.ok(not ok, "a failing gnuplot is an error")
  for _, p in ipairs(made) do T.ok(not fx.exists(p), p .. " removed after the error") end
end)

T.test("a font with Greek letters is installed, so τ renders in the PNGs", function()
  if not fx.sh("command -v fc-list >/dev/null 2>&1") then T.skip("fc-list is not installed") end
  local p = io.popen("fc-list ':charset=3c4' family 2>/dev/null")
  local fonts = p:read("a")
  p:close()
  T.ok(fonts:find("DejaVu Sans", 1, true), "DejaVu Sans (which has τ) is among: " .. fonts)
end)

-- {====== Bad input ======}

local function bad(fn, spec, ...)
  local msg = T.raises(function() fn(spec) end, ...)
  -- the error points at the line that called tau.plot, in this file
  T.ok(msg:find("test_plot.lua:%d+:"), "error blamed on the caller: " .. msg)
  return msg
end

T.test("lines: mismatched lengths, NaN, inf, empty data and gaps are errors naming the series", function()
  local s = lines_spec()
  s.series[2].x = {1, 2, 3, 4}
  bad(plot.lines, s, "tau.plot.lines: series 2: x has 4 values, y has 5")
  s = lines_spec(); s.series[1].err = {1, 2}
  bad(plot.lines, s, "tau.plot.lines: series 1: err has 2 values, y has 5")
  s = lines_spec(); s.series[2].hi = {1, 2, 3, 4, 5, 6}
  bad(plot.lines, s, "series 2: hi has 6 values, y has 5")
  s = lines_spec(); s.series[1].y = {80, 88, 0 / 0, 86, 70}
  bad(plot.lines, s, "tau.plot.lines: series 1: y[3] is NaN")
  s = lines_spec(); s.series[2].lo = {73, 80, -math.huge, 77, 55}
  bad(plot.lines, s, "series 2: lo[3] is -inf")
  s = lines_spec(); s.series[1].y = tau.tensor{1, 2, 1 / 0, 4, 5}
  bad(plot.lines, s, "series 1: y[3] is inf")
  s = lines_spec(); s.series[1].x, s.series[1].y, s.series[1].err = {}, {}, nil
  bad(plot.lines, s, "series 1: y is empty")
  bad(plot.lines, lines_spec{series = {}}, "tau.plot.lines: series is empty")
  s = lines_spec(); s.series[1].y = {80, 88, nil, 86, 70}
  bad(plot.lines, s, "series 1: y")
  s = lines_spec(); s.series[1].y = {80, 88, "90", 86, 70}
  bad(plot.lines, s, 'series 1: y[3] is "90", not a number')
  s = lines_spec(); s.series[1].y = tau.zeros(5, 1)
  bad(plot.lines, s, "series 1: y must be 1-D, got a tensor of size [5, 1]")
  s = lines_spec(); s.series[2].lo = nil
  bad(plot.lines, s, "series 2: hi without lo: a band needs both")
  s = lines_spec(); s.series[2].lo = {78, 80, 83, 77, 55}
  bad(plot.lines, s, "series 2: lo[1] = 78 is above hi[1] = 77")
  s = lines_spec(); s.series[1].err = {1, -1, 1, 1, 1}
  bad(plot.lines, s, "series 1: err[2] is -1")
  s = lines_spec(); s.series[1].x = {0, 0.5, 1, 5, 50}
  bad(plot.lines, s, "series 1: x[1] is 0, and logx needs positive values")
  bad(plot.lines, lines_spec{logy = true, yrange = {0, 100}}, "yrange starts at 0, and logy needs positive values")
  s = lines_spec{logy = true}; s.series[1].err = {1, 1, 90, 1, 1}
  bad(plot.lines, s, "series 1: y[3] - err[3] is 0, below the log axis (logy)")
  s = lines_spec(); s.series[2].name = nil
  bad(plot.lines, s, "series 2 has no name")
  s = lines_spec(); s.series[1].style = "dots"
  bad(plot.lines, s, 'series 1: style must be "linespoints", "lines" or "points"')
end)

T.test("bars, scatter, heatmap: mismatched and out-of-range input are errors", function()
  local s = bars_spec(); s.series[2].y = {1, 2}
  bad(plot.bars, s, "tau.plot.bars: series 2: y has 2 values, groups has 3")
  bad(plot.bars, bars_spec{marks = {{group = 4, series = 1, text = "pred"}}},
      "tau.plot.bars: marks[1]: group must be a whole number from 1 to 3, got 4")
  bad(plot.bars, bars_spec{marks = {{group = 1, series = 3, text = "pred"}}}, "marks[1]: series must be a whole number from 1 to 2")
  bad(plot.bars, bars_spec{marks = {{group = 1, series = 1}}}, "marks[1]: text is required")
  bad(plot.bars, bars_spec{groups = {}}, "tau.plot.bars: groups is empty")
  bad(plot.bars, bars_spec{groups = {"a", 2, "c"}}, "groups[2] must be a string")
  bad(plot.scatter, scatter_spec{y = {1, 2, 3}}, "tau.plot.scatter: x has 6 values, y has 3")
  bad(plot.scatter, scatter_spec{class = {1, 1, 2}}, "tau.plot.scatter: class has 3 values, x has 6")
  bad(plot.scatter, scatter_spec{class = {1, 1, 2, 2, 1.5, 3}}, "class[5] is 1.5: classes are whole numbers 1..K")
  bad(plot.scatter, scatter_spec{class = {1, 1, 2, 2, 0, 3}}, "class[5] is 0")
  bad(plot.scatter, scatter_spec{class = {1, 1, 2, 2, 4, 3}}, "class[5] is 4, but class_names has only 3 names")
  bad(plot.scatter, scatter_spec{x = {0, 0 / 0, 5, 5, 10, 9}}, "tau.plot.scatter: x[2] is NaN")
  bad(plot.scatter, scatter_spec{x = {}, y = {}, class = {}}, "tau.plot.scatter: x is empty")
  bad(plot.heatmap, heatmap_spec{z = {{1, 2, 3}, {4, 5}}}, "tau.plot.heatmap: z[2] has 2 values, z[1] has 3")
  bad(plot.heatmap, heatmap_spec{z = {{1, 2, 3}, {4, 0 / 0, 6}}}, "z[2][2] is NaN")
  bad(plot.heatmap, heatmap_spec{z = {}}, "z is empty")
  bad(plot.heatmap, heatmap_spec{xticks = {"1", "2"}}, "xticks has 2 names, z has 3 columns")
  bad(plot.heatmap, heatmap_spec{yticks = {"fog"}}, "yticks has 1 names, z has 2 rows")
  bad(plot.heatmap, heatmap_spec{format = "%d%%", z = {{90.5, 80, 70}, {85, 60, 40}}}, "format '%d%%' cannot print z[1][1] = 90.5")
  bad(plot.heatmap, heatmap_spec{format = "cell"}, "format must be a string.format pattern for one number")
  bad(plot.heatmap, heatmap_spec{format = "%s %s"}, "format must be a string.format pattern for one number")
  bad(plot.heatmap, heatmap_spec{z = tau.zeros(2, 3, 1)}, "z must be 2-D")
  bad(plot.heatmap, heatmap_spec{cblabel = false}, "cblabel must be a string")
end)

T.test("unknown and ill-typed options are errors naming the key and the nearest valid one", function()
  bad(plot.lines, lines_spec{xlabl = "τ"}, "tau.plot.lines: unknown option 'xlabl' (did you mean 'xlabel'?)")
  bad(plot.bars, bars_spec{mark = {}}, "tau.plot.bars: unknown option 'mark' (did you mean 'marks'?)")
  bad(plot.scatter, scatter_spec{classes = {}}, "unknown option 'classes' (did you mean 'class'?)")
  bad(plot.heatmap, heatmap_spec{logx = true}, "tau.plot.heatmap: unknown option 'logx'")
  bad(plot.heatmap, heatmap_spec{legend = "below"}, "tau.plot.heatmap: unknown option 'legend'")
  local s = lines_spec(); s.series[1].errr = {1, 1, 1, 1, 1}
  bad(plot.lines, lines_spec{series = {{name = 5, y = {1}}}}, "tau.plot.lines: series 1: name must be a string, got 5")
  bad(plot.lines, s, "tau.plot.lines: series 1: unknown field 'errr' (did you mean 'err'?)")
  bad(plot.bars, bars_spec{marks = {{group = 1, serie = 1, text = "x"}}}, "tau.plot.bars: marks[1]: unknown field 'serie' (did you mean 'series'?)")
  bad(plot.lines, lines_spec{logx = "yes"}, "logx must be true or false")
  bad(plot.lines, lines_spec{xrange = {10, 1}}, "xrange must be a pair {lo, hi} of numbers with lo < hi")
  bad(plot.lines, lines_spec{path = path("x.png"), width = 50}, "width must be a whole number of pixels from 100 to 20000")
  bad(plot.lines, lines_spec{path = path("x.png"), height = 300.5}, "height must be a whole number of pixels")
  bad(plot.lines, lines_spec{term = "svg"}, 'term must be "png" or "dumb"')
  bad(plot.lines, lines_spec{legend = "left"}, "legend must be")
  bad(plot.lines, lines_spec(), 'tau.plot.lines: path is required for term "png"')
  bad(plot.lines, lines_spec{path = path("x.jpg")}, "path must end in .png")
  bad(plot.lines, lines_spec{title = false}, "title must be a string")
  local s2 = lines_spec{path = path("x.png")}; s2.title = nil
  bad(plot.lines, s2, "tau.plot.lines: title is required")
  s2 = lines_spec{path = path("x.png")}; s2.ylabel = nil
  bad(plot.lines, s2, "ylabel is required")
  bad(plot.lines, "x", "tau.plot.lines: expects a table of options, got string")
end)

T.test("panels: bad layouts and bad panels are errors naming the panel", function()
  local one, two = lines_spec(), lines_spec()
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {one, two}, layout = {1, 1}},
      "tau.plot.lines: layout {1, 1} has 1 places for 2 panels")
  bad(plot.lines, lines_spec{path = path("p.png"), layout = {1, 2}}, "layout needs panels")
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {}}, "panels is empty")
  bad(plot.lines, {path = path("p.png"), panels = {one}}, "tau.plot.lines: title is required")
  local broken = lines_spec(); broken.series[1].y = {1, 2}
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {one, broken}}, "tau.plot.lines: panel 2: series 1: x has 5 values, y has 2")
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {one, lines_spec{width = 300}}},
      "panel 2: width belongs to the whole figure, not to a panel")
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {lines_spec{xlable = "x"}}},
      "panel 1: unknown option 'xlable' (did you mean 'xlabel'?)")
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {one, 5}}, "panels[2] must be a table of options")
  bad(plot.lines, {path = path("p.png"), title = "t", panels = {one}, layout = {0, 2}}, "layout must be a pair {rows, cols}")
end)

T.test("a missing gnuplot is a clear error, from the module field and from TAU_GNUPLOT", function()
  local saved = plot.gnuplot
  plot.gnuplot = tmp .. "/no-such-gnuplot"
  local ok, err = pcall(plot.lines, lines_spec{term = "dumb"})
  plot.gnuplot = saved
  T.ok(not ok, "an error")
  T.ok(tostring(err):find("tau.plot: gnuplot not found (install the Debian package gnuplot-nox)", 1, true), tostring(err))
  local cmd = string.format("TAU_GNUPLOT=%s %s -e %s 2>&1", fx.quote(tmp .. "/no-such-gnuplot"), fx.quote(fx.tau_bin()),
                            fx.quote('tau.plot.bars{term = "dumb", title = "t", xlabel = "x", ylabel = "y", groups = {"a"}, series = {{y = {1}}}}'))
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  T.ok(out:find("tau.plot: gnuplot not found (install the Debian package gnuplot-nox)", 1, true), out)
end)

T.test("a failing gnuplot is an error holding its message, and the old figure stays whole", function()
  local fake = tmp .. "/fake-gnuplot"
  fx.write(fake, "#!/bin/sh\necho 'line 3: unknown or ambiguous terminal type' >&2\nexit 1\n")
  fx.sh("chmod +x " .. fx.quote(fake))
  local target = path("kept.png")
  fx.write(target, "the previous figure")
  local saved = plot.gnuplot
  plot.gnuplot = fake
  local ok, err = pcall(plot.heatmap, heatmap_spec{path = target})
  plot.gnuplot = saved
  T.ok(not ok, "an error")
  err = tostring(err)
  T.ok(err:find("tau.plot.heatmap: gnuplot failed", 1, true), err)
  T.ok(err:find("unknown or ambiguous terminal type", 1, true), "gnuplot's stderr in the message: " .. err)
  T.eq(fx.read(target), "the previous figure", "the old file is untouched")
end)

T.test("a gnuplot warning (data it would skip) is an error", function()
  local fake = tmp .. "/warning-gnuplot"
  fx.write(fake, "#!/bin/sh\necho '\"script\" line 9: warning: Skipping data file with no valid points' >&2\nexit 0\n")
  fx.sh("chmod +x " .. fx.quote(fake))
  local saved = plot.gnuplot
  plot.gnuplot = fake
  local ok, err = pcall(plot.lines, lines_spec{term = "dumb"})
  plot.gnuplot = saved
  T.ok(not ok, "an error")
  T.ok(tostring(err):find("gnuplot warned: ", 1, true) and tostring(err):find("Skipping data file", 1, true), tostring(err))
end)

T.test("cleanup", function() fx.rmdir(tmp) end)
