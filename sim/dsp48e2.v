// Behavioural model of the AMD UltraScale / UltraScale+ DSP48E2 slice: the subset sqhw's
// primitive path uses, written from AMD UG579 (UltraScale Architecture DSP Slice User
// Guide). Simulation only: it is never synthesised (synthesis tools have the real cell),
// and sqhw checks it against Yosys's DSP48E1 model in the modes the two share
// (tests/test_dsp_primitives.py).
//
// Modelled: A/B input registers (AREG, BREG 0..2, CEA1/CEA2/CEB1/CEB2, INMODE[0]/[4]
// picking A1/B1 when two are used), the D register, the 27-bit pre-adder (INMODE[1] gates A,
// INMODE[2] gates D, INMODE[3] subtracts: AD = D +/- A, 27 bits, AMULTSEL "A" / "AD"), the
// 27 x 18 signed multiplier and its MREG, the C register, the W / X / Y / Z multiplexers of
// the 9-bit OPMODE (W: 0, P, RND, C; X: 0, M, P, A:B; Y: 0, M, all ones, C; Z: 0, PCIN, P,
// C, P, PCIN >>> 17, P >>> 17), the 48-bit ALU for ALUMODE 0000 (Z + W + X + Y + CIN) and
// 0011 (Z - (W + X + Y + CIN)) with CARRYIN (CARRYINSEL 000), PREG, PCOUT, ACOUT / BCOUT.
// Synchronous resets win over clock enables, as on the device. INMODE / OPMODE / ALUMODE /
// CARRYIN registers are 0 or 1 like the others.
// Not modelled (the simulation stops with $fatal when asked for): cascaded A/B inputs
// (A_INPUT / B_INPUT "CASCADE"), the pre-adder fed from B (PREADDINSEL "B", BMULTSEL "AD"),
// SIMD modes, other ALUMODEs and CARRYINSELs, pattern detect, XOROUT, inverted pins.
`timescale 1ns / 1ps
module DSP48E2 #(
    parameter integer AREG = 1,
    parameter integer BREG = 1,
    parameter integer ACASCREG = 1,
    parameter integer BCASCREG = 1,
    parameter integer CREG = 1,
    parameter integer DREG = 1,
    parameter integer ADREG = 1,
    parameter integer MREG = 1,
    parameter integer PREG = 1,
    parameter integer INMODEREG = 1,
    parameter integer OPMODEREG = 1,
    parameter integer ALUMODEREG = 1,
    parameter integer CARRYINREG = 1,
    parameter integer CARRYINSELREG = 1,
    parameter A_INPUT = "DIRECT",
    parameter B_INPUT = "DIRECT",
    parameter AMULTSEL = "A",
    parameter BMULTSEL = "B",
    parameter PREADDINSEL = "A",
    parameter USE_MULT = "MULTIPLY",
    parameter USE_SIMD = "ONE48",
    parameter [47:0] RND = 48'h0
) (
    input CLK,
    input [29:0] A,
    input [17:0] B,
    input [47:0] C,
    input [26:0] D,
    input [47:0] PCIN,
    input [8:0] OPMODE,
    input [3:0] ALUMODE,
    input [4:0] INMODE,
    input CARRYIN,
    input [2:0] CARRYINSEL,
    input CEA1, input CEA2, input CEB1, input CEB2, input CEC, input CED, input CEAD,
    input CEM, input CEP, input CECTRL, input CEINMODE, input CEALUMODE, input CECARRYIN,
    input RSTA, input RSTB, input RSTC, input RSTD, input RSTM, input RSTP, input RSTCTRL,
    input RSTINMODE, input RSTALUMODE, input RSTALLCARRYIN,
    output reg [47:0] P,
    output [47:0] PCOUT,
    output [29:0] ACOUT,
    output [17:0] BCOUT
);
    initial begin
        if (A_INPUT != "DIRECT" || B_INPUT != "DIRECT")
            $fatal(1, "DSP48E2 model: cascaded A/B inputs are not modelled");
        if (PREADDINSEL != "A" || BMULTSEL != "B")
            $fatal(1, "DSP48E2 model: the pre-adder is modelled on A only");
        if (AMULTSEL != "A" && AMULTSEL != "AD")
            $fatal(1, "DSP48E2 model: AMULTSEL must be A or AD");
        if (USE_MULT != "MULTIPLY" || USE_SIMD != "ONE48")
            $fatal(1, "DSP48E2 model: only USE_MULT MULTIPLY, USE_SIMD ONE48");
        if (AREG > 2 || BREG > 2 || CREG > 1 || DREG > 1 || ADREG > 1 || MREG > 1 || PREG > 1)
            $fatal(1, "DSP48E2 model: register counts out of range");
    end

    // A and B: 0, 1 (the A2 / B2 register) or 2 (A1 then A2) registers
    reg [29:0] a1 = 0, a2 = 0;
    reg [17:0] b1 = 0, b2 = 0;
    always @(posedge CLK) begin
        if (RSTA) begin a1 <= 0; a2 <= 0; end
        else begin
            if (CEA1) a1 <= A;
            if (CEA2) a2 <= (AREG == 2) ? a1 : A;
        end
        if (RSTB) begin b1 <= 0; b2 <= 0; end
        else begin
            if (CEB1) b1 <= B;
            if (CEB2) b2 <= (BREG == 2) ? b1 : B;
        end
    end
    wire [29:0] a_out = (AREG == 0) ? A : a2;
    wire [17:0] b_out = (BREG == 0) ? B : b2;
    assign ACOUT = (AREG == 2 && ACASCREG == 1) ? a1 : a_out;
    assign BCOUT = (BREG == 2 && BCASCREG == 1) ? b1 : b_out;

    // control registers
    reg [4:0] inmode_r = 0;
    reg [8:0] opmode_r = 0;
    reg [3:0] alumode_r = 0;
    reg carryin_r = 0;
    reg [2:0] carryinsel_r = 0;
    always @(posedge CLK) begin
        if (RSTINMODE) inmode_r <= 0; else if (CEINMODE) inmode_r <= INMODE;
        if (RSTCTRL) begin opmode_r <= 0; carryinsel_r <= 0; end
        else if (CECTRL) begin opmode_r <= OPMODE; carryinsel_r <= CARRYINSEL; end
        if (RSTALUMODE) alumode_r <= 0; else if (CEALUMODE) alumode_r <= ALUMODE;
        if (RSTALLCARRYIN) carryin_r <= 0; else if (CECARRYIN) carryin_r <= CARRYIN;
    end
    wire [4:0] inmode = INMODEREG ? inmode_r : INMODE;
    wire [8:0] opmode = OPMODEREG ? opmode_r : OPMODE;
    wire [3:0] alumode = ALUMODEREG ? alumode_r : ALUMODE;
    wire carryin = CARRYINREG ? carryin_r : CARRYIN;
    wire [2:0] carryinsel = CARRYINSELREG ? carryinsel_r : CARRYINSEL;

    // the multiplier's A (27 bits): A1 or A2, gated, then through the pre-adder or not
    wire [29:0] a_sel = (AREG == 2 && inmode[0]) ? a1 : a_out;
    wire signed [26:0] a_gated = inmode[1] ? 27'sd0 : $signed(a_sel[26:0]);
    reg signed [26:0] d_r = 0;
    always @(posedge CLK) if (RSTD) d_r <= 0; else if (CED) d_r <= D;
    wire signed [26:0] d_gated = inmode[2] ? (DREG ? d_r : $signed(D)) : 27'sd0;
    wire signed [26:0] ad = inmode[3] ? d_gated - a_gated : d_gated + a_gated;
    reg signed [26:0] ad_r = 0;
    always @(posedge CLK) if (RSTD) ad_r <= 0; else if (CEAD) ad_r <= ad;
    wire signed [26:0] mult_a = (AMULTSEL == "AD") ? (ADREG ? ad_r : ad) : a_gated;
    wire signed [17:0] mult_b = (BREG == 2 && inmode[4]) ? $signed(b1) : $signed(b_out);

    // 27 x 18 signed multiplier and MREG
    wire signed [44:0] m = mult_a * mult_b;
    reg signed [44:0] m_r = 0;
    always @(posedge CLK) if (RSTM) m_r <= 0; else if (CEM) m_r <= m;
    wire [47:0] m_ext = {{3{MREG ? m_r[44] : m[44]}}, MREG ? m_r : m};

    reg [47:0] c_r = 0;
    always @(posedge CLK) if (RSTC) c_r <= 0; else if (CEC) c_r <= C;
    wire [47:0] c_in = CREG ? c_r : C;

    // W / X / Y / Z multiplexers (the multiplier's two partial products sum to M: X = M,
    // Y = 0 here, which is what X + Y gives on the device)
    reg [47:0] w_mux, x_mux, y_mux, z_mux;
    always @* begin
        case (opmode[8:7])
            2'b00: w_mux = 48'd0;
            2'b01: w_mux = P;
            2'b10: w_mux = RND;
            default: w_mux = c_in;
        endcase
        case (opmode[1:0])
            2'b00: x_mux = 48'd0;
            2'b01: x_mux = m_ext;
            2'b10: x_mux = P;
            default: x_mux = {a_out, b_out};
        endcase
        case (opmode[3:2])
            2'b00: y_mux = 48'd0;
            2'b01: y_mux = 48'd0;
            2'b10: y_mux = {48{1'b1}};
            default: y_mux = c_in;
        endcase
        case (opmode[6:4])
            3'b000: z_mux = 48'd0;
            3'b001: z_mux = PCIN;
            3'b010: z_mux = P;
            3'b011: z_mux = c_in;
            3'b100: z_mux = P;
            3'b101: z_mux = {{17{PCIN[47]}}, PCIN[47:17]};
            3'b110: z_mux = {{17{P[47]}}, P[47:17]};
            default: z_mux = 48'd0;
        endcase
    end
    always @(posedge CLK) begin
        if (alumode != 4'b0000 && alumode != 4'b0011)
            $fatal(1, "DSP48E2 model: only ALUMODE 0000 and 0011 are modelled");
        if (carryinsel != 3'b000)
            $fatal(1, "DSP48E2 model: only CARRYINSEL 000 is modelled");
        if ((opmode[1:0] == 2'b01) != (opmode[3:2] == 2'b01))
            $fatal(1, "DSP48E2 model: X and Y select M together (OPMODE[3:0] = 0101)");
    end
    wire [47:0] addend = w_mux + x_mux + y_mux + {47'd0, carryin};
    wire [47:0] alu = (alumode == 4'b0011) ? z_mux - addend : z_mux + addend;

    generate if (PREG) begin : p_register
        initial P = 0;
        always @(posedge CLK) if (RSTP) P <= 0; else if (CEP) P <= alu;
    end else begin : p_direct
        always @* P = alu;
    end endgenerate
    assign PCOUT = P;
endmodule
