-- tau.corrupt: the 19 common corruptions through Lua (shape, range, seeds, severity order,
-- frost photographs, errors) and the natural perturbations shift / random_shift.
local T = ...
local corrupt = tau.corrupt

local EXPECTED = {
  "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
  "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
  "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate"}
local DETERMINISTIC = {defocus_blur = true, zoom_blur = true, brightness = true, contrast = true,
                       pixelate = true, jpeg_compression = true, gaussian_blur = true,
                       saturate = true}

-- ---------------------------------------------------------------- test images

-- A small linear congruential generator, so the images do not depend on math.random's state.
local function lcg(seed)
  local s = seed % 2147483647
  if s <= 0 then s = s + 2147483646 end
  return function()
    s = (s * 48271) % 2147483647
    return s / 2147483647
  end
end

-- Smooth random images with the structure of small photographs, for the corruptions to act
-- on: a colour gradient, three soft blobs, a hard-edged rectangle and a fine texture, with a
-- contrast like CIFAR-10's, inside [0.02, 0.98] and quantised to 8-bit levels. Returns nested
-- tables (N, C, H, W).
local function image_tables(n, c, h, w, seed)
  local r = lcg(seed)
  local out = {}
  for i = 1, n do
    local base, gx, gy = {}, {}, {}
    for ch = 1, c do
      base[ch], gx[ch], gy[ch] = 0.25 + 0.4 * r(), (r() - 0.5) * 0.8, (r() - 0.5) * 0.8
    end
    local blobs = {}
    for b = 1, 3 do
      blobs[b] = {x = r() * w, y = r() * h, s = (0.08 + 0.2 * r()) * w, v = (r() - 0.5) * 1.0}
    end
    local x0, y0 = math.floor(r() * w / 2), math.floor(r() * h / 2)
    local x1, y1 = x0 + w // 4 + math.floor(r() * w / 4), y0 + h // 4 + math.floor(r() * h / 4)
    local edge = r() < 0.5 and 0.3 or -0.3
    local img = {}
    for ch = 1, c do
      local plane = {}
      for y = 0, h - 1 do
        local row = {}
        for x = 0, w - 1 do
          local v = base[ch] + gx[ch] * (x / w - 0.5) + gy[ch] * (y / h - 0.5)
          for b, bl in ipairs(blobs) do
            local d2 = (x - bl.x) ^ 2 + (y - bl.y) ^ 2
            v = v + bl.v * math.exp(-d2 / (2 * bl.s * bl.s)) * ((ch + b) % 3 == 0 and 1 or 0.6)
          end
          if x >= x0 and x < x1 and y >= y0 and y < y1 then v = v + (ch == 2 and -edge or edge) end
          v = v + 0.06 * math.sin(1.3 * x + 0.7 * y + ch) + 0.06 * (r() - 0.5)
          v = math.min(0.98, math.max(0.02, v))
          row[x + 1] = math.floor(v * 255 + 0.5) / 255
        end
        plane[y + 1] = row
      end
      img[ch] = plane
    end
    out[i] = img
  end
  return out
end

local function images(n, c, h, w, seed) return tau.tensor(image_tables(n, c, h, w, seed)) end

local function mad(a, b) return (a - b):abs():mean():item() end
local function maxdiff(a, b) return (a - b):abs():max():item() end
local function same_shape(a, b) return table.concat(a:size(), "x") == table.concat(b:size(), "x") end

local RGB = images(2, 3, 32, 32, 11)          -- (N, C, H, W)
local GREY = images(1, 1, 28, 28, 12)[1]      -- (C, H, W)

local function frost_photos()
  local root = T.shared_data()
  if not root then return nil, "no shared data folder (set TAU_SHARED_DATA)" end
  local dir = root .. "/frost"
  local f = io.open(dir .. "/frost1.png", "rb")
  if not f then return nil, "no frost photographs in " .. dir end
  f:close()
  return dir
end

-- ---------------------------------------------------------------- registry

T.test("corrupt: names, benchmark and extra", function()
  T.eq(#corrupt.names, 19, "number of names")
  for i, name in ipairs(EXPECTED) do T.eq(corrupt.names[i], name, "name " .. i) end
  T.eq(#corrupt.benchmark, 15, "benchmark corruptions")
  T.eq(#corrupt.extra, 4, "extra corruptions")
  for i = 1, 15 do T.eq(corrupt.benchmark[i], EXPECTED[i]) end
  for i = 1, 4 do T.eq(corrupt.extra[i], EXPECTED[15 + i]) end
  T.eq(corrupt.benchmark[15], "jpeg_compression")
end)

T.test("corrupt: is_deterministic", function()
  local det = 0
  for _, name in ipairs(corrupt.names) do
    T.eq(corrupt.is_deterministic(name), DETERMINISTIC[name] == true, name)
    if corrupt.is_deterministic(name) then det = det + 1 end
  end
  T.eq(det, 8, "deterministic corruptions")
  T.raises(function() corrupt.is_deterministic("fogg") end,
           "tau.corrupt.is_deterministic: unknown corruption 'fogg' (valid: gaussian_noise")
  T.raises(function() corrupt.is_deterministic(nil) end,
           "tau.corrupt.is_deterministic: the corruption name must be a string, got nil")
end)

-- ---------------------------------------------------------------- every corruption

-- Each corruption at each severity, on an RGB batch (N, C, H, W) and a grey image (C, H, W).
for _, name in ipairs(EXPECTED) do
  T.test("corrupt: " .. name .. " keeps shape and range, changes the image, follows the seed", function()
    local det = corrupt.is_deterministic(name)
    for _, x in ipairs({RGB, GREY}) do
      local grey = x:dim() == 3
      local before = x:clone()
      for s = 1, 5 do
        local what = string.format("%s s%d %s", name, s, table.concat(x:size(), "x"))
        local y = corrupt.apply(x, name, s, {seed = 1})
        T.ok(tau.is_tensor(y) and y:dtype() == "float32", what .. ": a float32 tensor")
        T.ok(same_shape(x, y), what .. ": shape " .. table.concat(y:size(), "x"))
        T.ok(y:min():item() >= 0 and y:max():item() <= 1, what .. ": values outside [0, 1]")
        if grey and name == "saturate" and s <= 3 then
          -- Grey has no saturation to scale: unchanged (up to float rounding).
          T.ok(maxdiff(x, y) < 1 / 255, what .. ": grey changed by saturate")
        else
          T.ok(mad(x, y) > 0, what .. ": image unchanged")
        end
        T.ok(tau.equal(y, corrupt.apply(x, name, s, {seed = 1})), what .. ": not reproducible")
        local other = corrupt.apply(x, name, s, {seed = 2})
        if det then
          T.ok(tau.equal(y, other), what .. ": deterministic corruption depends on the seed")
        else
          T.ok(not tau.equal(y, other), what .. ": random corruption ignores the seed")
        end
      end
      T.ok(tau.equal(x, before), name .. ": input modified")
    end
  end)
end

-- Mean absolute change by severity, averaged over images and seeds. Where the benchmark's own
-- statistics are not monotonic, the pairs state what they show (see core/robust/corrupt.h and
-- tests/core/test_robust_corrupt.c): glass_blur's one-pass severities 1-3 change less than the
-- two-pass 4-5; motion_blur 3 and 4 nearly agree; frost peaks at 3; spatter's mud (4-5) changes
-- less than water at 3; elastic_transform decreases; saturate is smallest at 3.
local ORDERS = {
  glass_blur = {{1, 4}, {2, 4}, {3, 4}, {1, 5}, {2, 5}, {3, 5}},
  motion_blur = {{1, 2}, {2, 3}, {4, 5}},
  frost = {{1, 2}, {2, 3}, {4, 3}, {5, 3}},
  spatter = {{1, 2}, {2, 3}, {4, 5}, {4, 3}},
  elastic_transform = {{2, 1}, {3, 2}, {4, 3}, {5, 4}},
  saturate = {{3, 1}, {1, 2}, {3, 4}, {4, 5}},
}

local ORDER_SETS = {
  {label = "RGB 32x32", x = images(6, 3, 32, 32, 21)},
  {label = "grey 28x28", x = images(6, 1, 28, 28, 22)},
}

for _, set in ipairs(ORDER_SETS) do
  T.test("corrupt: change grows with severity (" .. set.label .. ")", function()
    local x = set.x
    for _, name in ipairs(EXPECTED) do
      if not (name == "saturate" and x:size(2) == 1) then -- grey has no saturation
        local m = {}
        for s = 1, 5 do
          m[s] = 0
          for seed = 1, 3 do m[s] = m[s] + mad(x, corrupt.apply(x, name, s, {seed = seed})) / 3 end
        end
        local pairs_ = ORDERS[name] or {{1, 2}, {2, 3}, {3, 4}, {4, 5}}
        for _, p in ipairs(pairs_) do
          T.ok(m[p[1]] < m[p[2]], string.format("%s %s: severity %d (%.5f) should change less than %d (%.5f)",
               set.label, name, p[1], m[p[1]], p[2], m[p[2]]))
        end
        if name == "motion_blur" then
          T.ok(math.abs(m[3] - m[4]) < 0.003, string.format("motion_blur 3 and 4: %.5f vs %.5f", m[3], m[4]))
        end
      end
    end
  end)
end

T.test("corrupt: a (C, H, W) image is corrupted like image 1 of a batch", function()
  local one = RGB[1]
  for _, name in ipairs(EXPECTED) do
    local y = corrupt.apply(one, name, 3, {seed = 4})
    T.eq(y:dim(), 3, name .. ": dimensions")
    T.ok(tau.equal(y, corrupt.apply(RGB, name, 3, {seed = 4})[1]), name .. ": differs from image 1 of the batch")
  end
end)

T.test("corrupt: images of a batch get their own draws", function()
  local twin = tau.stack({RGB[1], RGB[1]})
  for _, name in ipairs(EXPECTED) do
    if not corrupt.is_deterministic(name) and name ~= "motion_blur" then
      local y = corrupt.apply(twin, name, 3, {seed = 5})
      T.ok(not tau.equal(y[1], y[2]), name .. ": identical images drew the same")
    end
  end
end)

T.test("corrupt: default seed, non-contiguous input, thread count", function()
  T.ok(tau.equal(corrupt.apply(RGB, "gaussian_noise", 2), corrupt.apply(RGB, "gaussian_noise", 2, {seed = 0})),
       "the default seed is 0")
  local xt = RGB:transpose(3, 4)
  T.ok(not xt:is_contiguous())
  T.ok(tau.equal(corrupt.apply(xt, "snow", 2, {seed = 3}), corrupt.apply(xt:contiguous(), "snow", 2, {seed = 3})),
       "a transposed view is read in its logical order")
  local batch = images(8, 3, 32, 32, 31)
  local threads = tau.get_num_threads()
  tau.set_num_threads(1)
  local a = corrupt.apply(batch, "elastic_transform", 4, {seed = 9})
  tau.set_num_threads(2)
  local b = corrupt.apply(batch, "elastic_transform", 4, {seed = 9})
  tau.set_num_threads(threads)
  T.ok(tau.equal(a, b), "result depends on the thread count")
  -- A negative seed is a seed like any other.
  T.ok(not tau.equal(corrupt.apply(RGB, "shot_noise", 1, {seed = -1}), corrupt.apply(RGB, "shot_noise", 1, {seed = 1})))
  -- Empty batch.
  T.eq(corrupt.apply(tau.zeros(0, 3, 32, 32), "fog", 1):size(1), 0)
end)

-- ---------------------------------------------------------------- frost

T.test("corrupt: frost with the benchmark's photographs", function()
  local dir, why = frost_photos()
  if not dir then T.skip(why) end
  local m = {}
  for s = 1, 5 do
    local y = corrupt.apply(RGB, "frost", s, {seed = 1, frost_dir = dir})
    T.ok(same_shape(y, RGB))
    T.ok(y:min():item() >= 0 and y:max():item() <= 1, "frost s" .. s .. ": range")
    T.ok(tau.equal(y, corrupt.apply(RGB, "frost", s, {seed = 1, frost_dir = dir})), "frost s" .. s .. ": reproducible")
    T.ok(not tau.equal(y, corrupt.apply(RGB, "frost", s, {seed = 2, frost_dir = dir})), "frost s" .. s .. ": seed")
    T.ok(not tau.equal(y, corrupt.apply(RGB, "frost", s, {seed = 1, frost_dir = false})),
         "frost s" .. s .. ": photographs and generated texture agree")
    m[s] = mad(RGB, y)
  end
  T.ok(m[1] < m[2] and m[2] < m[3], string.format("frost rises to severity 3: %.4f %.4f %.4f", m[1], m[2], m[3]))
  local grey = corrupt.apply(GREY, "frost", 3, {frost_dir = dir})
  T.eq(grey:size(1), 1, "grey frost keeps one channel")
end)

-- TAU_FROST_DIR is read by apply when frost_dir is absent; a child interpreter gets it set.
T.test("corrupt: TAU_FROST_DIR supplies the default frost_dir", function()
  local exe = arg and arg[-1]
  if not exe or not io.open(exe, "rb") then T.skip("cannot find the interpreter to run a child process") end
  local function child(env, code)
    local cmd = string.format("%s %s -e %q 2>&1", env, exe, code)
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    return out
  end
  -- A folder without photographs: the default makes frost fail; false and other names do not.
  local probe = [[
    local x = tau.full({1, 3, 16, 16}, 0.5)
    print(pcall(tau.corrupt.apply, x, "frost", 1))
    print(pcall(tau.corrupt.apply, x, "frost", 1, {frost_dir = false}))
    print(pcall(tau.corrupt.apply, x, "fog", 1))]]
  local out = child("TAU_FROST_DIR=/nonexistent/tau-frost", probe)
  T.ok(out:find("false\t[^\n]-tau%.corrupt%.apply: no readable frost images"), "default frost_dir ignored: " .. out)
  T.ok(out:find("\ntrue\ttensor", 1, true), "frost_dir = false should use the generated texture: " .. out)
  local _, trues = out:gsub("true\ttensor", "")
  T.eq(trues, 2, "frost_dir = false and fog should succeed: " .. out)
  -- With the photographs, the default gives what the explicit folder gives.
  local dir = frost_photos()
  if dir then
    local sum = [[print(string.format("%.6f", tau.corrupt.apply(tau.full({1, 3, 32, 32}, 0.4), "frost", 2, {seed = 3}):sum():item()))]]
    local via_env = child("TAU_FROST_DIR='" .. dir .. "'", sum)
    local direct = corrupt.apply(tau.full({1, 3, 32, 32}, 0.4), "frost", 2, {seed = 3, frost_dir = dir})
    T.eq(via_env, string.format("%.6f\n", direct:sum():item()), "TAU_FROST_DIR result")
  end
end)

-- ---------------------------------------------------------------- errors

T.test("corrupt: argument errors", function()
  local fn = "tau.corrupt.apply"
  T.raises(function() corrupt.apply(RGB, "fogg", 1) end, fn .. ": unknown corruption 'fogg' (valid: gaussian_noise",
           "saturate)")
  T.raises(function() corrupt.apply(RGB, nil, 1) end, fn .. ": the corruption name must be a string, got nil")
  T.raises(function() corrupt.apply(RGB, 3, 1) end, fn .. ": the corruption name must be a string, got number")
  T.raises(function() corrupt.apply(RGB, "fog", 0) end, fn .. ": severity must be an integer in 1..5, got 0")
  T.raises(function() corrupt.apply(RGB, "fog", 6) end, fn .. ": severity must be an integer in 1..5, got 6")
  T.raises(function() corrupt.apply(RGB, "fog", 2.5) end, fn .. ": severity must be an integer in 1..5, got 2.5")
  T.raises(function() corrupt.apply(RGB, "fog") end, fn .. ": severity must be an integer in 1..5, got nil")
  T.raises(function() corrupt.apply(RGB, "fog", "3") end, fn .. ": severity must be an integer in 1..5, got string")
  T.raises(function() corrupt.apply(nil, "fog", 1) end, fn .. ": x must be a float32 tensor (C, H, W) or (N, C, H, W), got nil")
  T.raises(function() corrupt.apply({{0.5}}, "fog", 1) end, fn .. ": x must be a float32 tensor", "got table")
  T.raises(function() corrupt.apply(RGB:int(), "fog", 1) end, fn .. ": x must be float32, got int32 [2, 3, 32, 32]")
  T.raises(function() corrupt.apply(tau.rand(32, 32), "fog", 1) end,
           fn .. ": x must be (C, H, W) or (N, C, H, W), got 2 dimensions [32, 32]")
  T.raises(function() corrupt.apply(tau.rand(1, 1, 3, 32, 32), "fog", 1) end, "got 5 dimensions [1, 1, 3, 32, 32]")
  T.raises(function() corrupt.apply(tau.rand(2, 2, 32, 32), "fog", 1) end,
           fn .. ": images must have 1 or 3 channels, got 2 (x is [2, 2, 32, 32])")
  T.raises(function() corrupt.apply(tau.rand(3, 4, 32), "fog", 1) end,
           fn .. ": images must be 8..32768 pixels on each side, got 4 x 32 (x is [3, 4, 32])")
  local bad = RGB:clone()
  bad:set_flat(2 * 3 * 32 * 32, 0 / 0)
  T.raises(function() corrupt.apply(bad, "contrast", 1) end, fn .. ": x holds NaN at [2, 3, 32, 32] (values must be in [0, 1])")
  bad = RGB:clone()
  bad:set_flat(33, math.huge)
  T.raises(function() corrupt.apply(bad, "contrast", 1) end, fn .. ": x holds inf at [1, 1, 2, 1]")
  bad = RGB:clone()
  bad:set_flat(5, -0.5)
  T.raises(function() corrupt.apply(bad, "fog", 1) end, fn .. ": x must hold values in [0, 1], got -0.5 at [1, 1, 1, 5]")
  T.raises(function() corrupt.apply(RGB * 2, "fog", 1) end, fn .. ": x must hold values in [0, 1], got")
  T.raises(function() corrupt.apply(RGB, "fog", 1, {seed = 1.5}) end, fn .. ": seed must be an integer, got 1.5")
  T.raises(function() corrupt.apply(RGB, "fog", 1, {seed = "1"}) end, fn .. ": seed must be an integer, got string")
  T.raises(function() corrupt.apply(RGB, "fog", 1, 7) end, fn .. ": options must be a table, got number")
  T.raises(function() corrupt.apply(RGB, "fog", 1, {seeds = 7}) end, fn .. ": unknown option 'seeds' (did you mean 'seed'?)")
  T.raises(function() corrupt.apply(RGB, "frost", 1, {frost_dir = 3}) end, fn .. ": frost_dir must be a string, got number")
  T.raises(function() corrupt.apply(RGB, "frost", 1, {frost_dir = "/nonexistent/frost"}) end,
           fn .. ": no readable frost images (frost1.png .. frost5.jpg) in '/nonexistent/frost'")
  -- Errors point at the caller's line.
  local err = T.raises(function() corrupt.apply(RGB, "fog", 9) end, "severity")
  T.ok(err:find("test_corrupt.lua:%d+: tau.corrupt.apply") ~= nil, "position of the error: " .. err)
  err = T.raises(function() corrupt.apply(RGB, "fog", 1, {seeds = 7}) end, "seeds")
  T.ok(err:find("test_corrupt.lua:%d+: tau.corrupt.apply") ~= nil, "position of the error: " .. err)
end)

-- ---------------------------------------------------------------- shift

-- out[i][j] = x[j][W + 1 - i] (1-based): counter-clockwise quarter turn of a square plane.
local function rot90_table(p)
  local n, out = #p, {}
  for i = 1, n do
    out[i] = {}
    for j = 1, n do out[i][j] = p[j][n + 1 - i] end
  end
  return out
end

T.test("shift: identity and full turns are exact", function()
  for _, x in ipairs({RGB, GREY}) do
    T.ok(tau.equal(corrupt.shift(x), x), "no options")
    T.ok(tau.equal(corrupt.shift(x, {rotate = 0, translate = {0, 0}, scale = 1}), x), "explicit identity")
    T.ok(tau.equal(corrupt.shift(x, {rotate = 360, border = "edge"}), x), "a full turn")
  end
end)

T.test("shift: integer translation is a shifted copy", function()
  local x = RGB
  local y = corrupt.shift(x, {translate = {3, 0}})
  T.ok(tau.equal(y:narrow(4, 4, 29), x:narrow(4, 1, 29)), "content moved 3 pixels right")
  T.eq(y:narrow(4, 1, 3):abs():max():item(), 0, "revealed columns hold the fill 0")
  y = corrupt.shift(x, {translate = {0, -2}, fill = 0.5})
  T.ok(tau.equal(y:narrow(3, 1, 30), x:narrow(3, 3, 30)), "content moved 2 pixels up")
  T.ok(tau.equal(y:narrow(3, 31, 2), tau.full({2, 3, 2, 32}, 0.5)), "revealed rows hold the fill 0.5")
  y = corrupt.shift(x, {translate = {-1, 0}, border = "edge"})
  T.ok(tau.equal(y:narrow(4, 1, 31), x:narrow(4, 2, 31)), "content moved 1 pixel left")
  T.ok(tau.equal(y:narrow(4, 32, 1), x:narrow(4, 32, 1)), "edge column replicated")
end)

T.test("shift: quarter turns of a square image", function()
  local x = images(1, 2, 9, 9, 41)
  local y = corrupt.shift(x, {rotate = 90})
  local xt, yt = x:totable(), y:totable()
  for ch = 1, 2 do T.close(yt[1][ch], rot90_table(xt[1][ch]), 1e-5, "channel " .. ch) end
  local z = x
  for _ = 1, 4 do z = corrupt.shift(z, {rotate = 90}) end
  T.ok(tau.equal(z, x), "four quarter turns are the identity")
  T.ok(tau.equal(corrupt.shift(x, {rotate = -90}), corrupt.shift(x, {rotate = 270})), "-90 is 270")
end)

T.test("shift: zoom, fill and edge borders", function()
  local c = tau.full({2, 3, 16, 20}, 0.7)
  for _, border in ipairs({"constant", "edge"}) do
    T.ok(maxdiff(corrupt.shift(c, {scale = 2, border = border}), c) == 0, "2x zoom of a constant image, " .. border)
    T.ok(maxdiff(corrupt.shift(c, {scale = 2, rotate = 17, translate = {0.5, -1.25}, border = border}), c) == 0,
         "zoomed in, rotated and moved, " .. border)
  end
  local small = corrupt.shift(c, {scale = 0.5, fill = 0.2})
  T.near(small:get_flat(1), 0.2, 1e-6, "corner shows the fill")
  T.near(small[1][1][8][10], 0.7, 1e-6, "centre keeps the image")
  T.eq(maxdiff(corrupt.shift(c, {scale = 0.5, border = "edge"}), c), 0, "edge replication of a constant")
  -- Half-pixel move: neighbours averaged.
  local x = GREY
  local y = corrupt.shift(x, {translate = {0.5, 0}, border = "edge"})
  local expect = (x:narrow(3, 1, 27) + x:narrow(3, 2, 27)) / 2
  T.ok(maxdiff(y:narrow(3, 2, 27), expect) < 1e-6, "half-pixel move averages neighbours")
end)

T.test("shift: values outside [0, 1] are allowed; range kept", function()
  local x = RGB * 4 - 2
  local y = corrupt.shift(x, {rotate = 30, scale = 1.1, border = "edge"})
  T.ok(y:min():item() >= x:min():item() and y:max():item() <= x:max():item(), "range of the input kept")
  for seed = 1, 5 do
    local z = corrupt.random_shift(RGB, {rotate = 45, translate = 4, scale = 0.3, seed = seed})
    T.ok(z:min():item() >= 0 and z:max():item() <= 1, "random_shift leaves [0, 1]")
    corrupt.apply(z, "fog", 2) -- a shifted image is a valid corruption input
  end
end)

T.test("random_shift: seeds, bounds, drawn warps", function()
  local twin = tau.stack({RGB[1], RGB[1], RGB[1], RGB[1]})
  local opts = {rotate = 15, translate = 2, scale = 0.1, seed = 7}
  local a, wa = corrupt.random_shift(twin, opts)
  local b, wb = corrupt.random_shift(twin, opts)
  T.ok(same_shape(a, twin))
  T.ok(tau.equal(a, b) and tau.equal(wa, wb), "same seed, same result")
  T.eq(table.concat(wa:size(), "x"), "4x4", "warps are (N, 4)")
  local wt = wa:totable()
  for i = 1, 4 do
    T.ok(math.abs(wt[i][1]) <= 15 and math.abs(wt[i][2]) <= 2 and math.abs(wt[i][3]) <= 2, "warp " .. i .. " within bounds")
    T.ok(wt[i][4] >= 0.9 and wt[i][4] <= 1.1, "scale " .. i .. " within bounds")
    if i > 1 then T.ok(not tau.equal(a[1], a[i]), "identical images drew the same warp") end
    -- The reported warp, applied by shift, gives the same image (warps are stored as float32).
    local again = corrupt.shift(twin[i], {rotate = wt[i][1], translate = {wt[i][2], wt[i][3]}, scale = wt[i][4]})
    T.ok(maxdiff(again, a[i]) < 1e-3, "warp " .. i .. " reproduces the image")
  end
  T.ok(not tau.equal(a, corrupt.random_shift(twin, {rotate = 15, translate = 2, scale = 0.1, seed = 8})),
       "another seed, other warps")
  -- Image i draws from (seed, i): a (C, H, W) image gets the warp of image 1.
  local one, w1 = corrupt.random_shift(RGB[1], opts)
  T.eq(one:dim(), 3)
  T.ok(tau.equal(one, a[1]) and tau.equal(w1[1], wa[1]), "a single image draws like image 1 of a batch")
  T.ok(tau.equal(corrupt.random_shift(RGB), RGB), "zero ranges are the identity")
  local threads = tau.get_num_threads()
  local big = images(4, 3, 48, 48, 51)
  tau.set_num_threads(1)
  local s1 = corrupt.random_shift(big, {rotate = 20, translate = 3, seed = 2})
  tau.set_num_threads(2)
  local s2 = corrupt.random_shift(big, {rotate = 20, translate = 3, seed = 2})
  tau.set_num_threads(threads)
  T.ok(tau.equal(s1, s2), "independent of the thread count")
end)

T.test("shift: argument errors", function()
  local fn, fr = "tau.corrupt.shift", "tau.corrupt.random_shift"
  T.raises(function() corrupt.shift(RGB, {scale = 0}) end, fn .. ": scale must be positive, got 0")
  T.raises(function() corrupt.shift(RGB, {scale = -1}) end, fn .. ": scale must be positive, got -1")
  T.raises(function() corrupt.shift(RGB, {rotate = "x"}) end, fn .. ": rotate must be a number, got string")
  T.raises(function() corrupt.shift(RGB, {rotate = 0 / 0}) end, fn .. ": rotate must be finite")
  T.raises(function() corrupt.shift(RGB, {translate = 2}) end, fn .. ": option 'translate' must be a table {dx, dy} of two numbers, got number")
  T.raises(function() corrupt.shift(RGB, {translate = {1, 2, 3}}) end, "got a table of 3 values")
  T.raises(function() corrupt.shift(RGB, {translate = {1, "a"}}) end, fn .. ": translate[2] (dy) must be a number, got string")
  T.raises(function() corrupt.shift(RGB, {border = "wrap"}) end, fn .. ": border must be 'constant' or 'edge', got 'wrap'")
  T.raises(function() corrupt.shift(RGB, {fill = math.huge}) end, fn .. ": fill must be finite")
  T.raises(function() corrupt.shift(RGB, {rotation = 3}) end, fn .. ": unknown option 'rotation' (did you mean 'rotate'?)")
  T.raises(function() corrupt.shift(RGB, 3) end, fn .. ": options must be a table, got number")
  T.raises(function() corrupt.shift(nil) end, fn .. ": x must be a float32 tensor (C, H, W) or (N, C, H, W), got nil")
  T.raises(function() corrupt.shift(RGB:int()) end, fn .. ": x must be float32, got int32")
  T.raises(function() corrupt.shift(tau.rand(8, 8)) end, fn .. ": x must be (C, H, W) or (N, C, H, W), got 2 dimensions [8, 8]")
  local bad = RGB:clone()
  bad:set_flat(1, 0 / 0)
  T.raises(function() corrupt.shift(bad) end, fn .. ": x holds NaN at [1, 1, 1, 1] (values must be finite)")
  T.raises(function() corrupt.random_shift(bad) end, fr .. ": x holds NaN at [1, 1, 1, 1]")
  T.raises(function() corrupt.random_shift(RGB, {rotate = -1}) end, fr .. ": rotate (the largest rotation, in degrees) must be >= 0, got -1")
  T.raises(function() corrupt.random_shift(RGB, {translate = {1, 2}}) end, fr .. ": translate must be a number, got table")
  T.raises(function() corrupt.random_shift(RGB, {translate = -2}) end, fr .. ": translate (the largest move, in pixels) must be >= 0, got -2")
  T.raises(function() corrupt.random_shift(RGB, {scale = 1}) end, fr .. ": scale (the largest relative zoom) must be in [0, 1), got 1")
  T.raises(function() corrupt.random_shift(RGB, {seed = 0.5}) end, fr .. ": seed must be an integer, got 0.5")
  T.raises(function() corrupt.random_shift(RGB, {seeds = 1}) end, fr .. ": unknown option 'seeds'")
end)
