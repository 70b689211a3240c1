import subprocess
def aes(mode,key,data,iv=None):
    cmd=['openssl','enc','-aes-128-'+mode,'-K',key,'-nopad']
    if iv: cmd+=['-iv',iv]
    return subprocess.run(cmd,input=bytes.fromhex(data),capture_output=True,check=True).stdout.hex()
def pad(h):
    h+='80'
    while len(h)%32: h+='00'
    return h
Z='00'*16
KE='0102030405060708090a0b0c0d0e0f10'; KM='100f0e0d0c0b0a090807060504030201'
H='1122334455667788'; C='a1a2a3a4a5a6a7a8'
D=C[8:16]+H[0:8]+C[0:8]+H[8:16]
SE=aes('ecb',KE,D); SM=aes('ecb',KM,D)
CC=aes('cbc',SE,pad(H+C),Z)[32:48]
HC=aes('cbc',SE,pad(C+H),Z)[32:48]
M=aes('cbc',SM,'8482030010'+HC+'800000',Z)[0:16]
print('SENC',SE,'SMAC',SM); print('CC',CC,'HC',HC,'M',M)
ICV=M+'0000000000000001'
E=aes('cbc',SE,pad('3f00'),Z)
objs='871101'+E+'970100'
L=aes('cbc',SM,pad('0ca40000')+pad(objs),ICV)[-32:-16]
print('WRAPPED',objs+'8e08'+L)
R=aes('cbc',SE,pad('6f0483023f00'),Z)
robjs='871101'+R+'99029000'
RM=aes('cbc',SM,pad(robjs),ICV)[-32:-16]
print('RSP',robjs+'8e08'+RM)
